// DabbaGPS
