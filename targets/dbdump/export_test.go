package dbdump

// SetPartSize makes parts small, so that tests see many.
func (a *ArchiveWriter) SetPartSize(n int) { a.partSize = n }
