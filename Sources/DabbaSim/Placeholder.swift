// DabbaSim
