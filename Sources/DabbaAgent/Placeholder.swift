// DabbaAgent
