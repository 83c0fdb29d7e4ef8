package identity

// ParsePEMFiles exposes the file source's parser to the fuzz target.
var ParsePEMFiles = parsePEMFiles
