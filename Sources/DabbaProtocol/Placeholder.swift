// DabbaProtocol
