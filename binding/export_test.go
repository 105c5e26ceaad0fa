package binding

// Internals the external tests reach.
var (
	DecodeBindRequest = decodeBindRequest
	ParseImportLine   = parseImportLine
)
