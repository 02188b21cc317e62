// DabbaMQTT
