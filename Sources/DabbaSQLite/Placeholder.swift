// DabbaSQLite
