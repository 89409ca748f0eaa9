package mysql

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
)

// definerClause is a DEFINER=`user`@`host` clause of a dumped view, routine, trigger
// or event.
var definerClause = regexp.MustCompile("DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*` ?")

// maxDefinitionLine is the longest line the rewriter holds to rewrite; longer ones
// pass unchanged.
const maxDefinitionLine = 16 << 20

// dropDefiners returns the SQL dump in without the DEFINER clauses of its definitions,
// so that a user without the SUPER or SET USER privilege can restore views, routines,
// triggers and events: each is then defined by the restoring user. Only lines that
// start a definition are rewritten ("CREATE ..." and the version comments mariadb-dump
// writes them in); rows and routine bodies pass as they are. Close it when done reading.
func dropDefiners(in io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		br := bufio.NewReaderSize(in, 1<<20)
		bw := bufio.NewWriterSize(pw, 1<<20)
		pw.CloseWithError(rewriteLines(br, bw))
	}()
	return pr
}

func rewriteLines(br *bufio.Reader, bw *bufio.Writer) error {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull && len(line)+len(chunk) < maxDefinitionLine && !isRow(line, chunk):
			line = append(line, chunk...)
			continue
		case err == bufio.ErrBufferFull:
			// A row, or a line too long to hold: passed as it is, to its end.
			if _, werr := bw.Write(line); werr != nil {
				return werr
			}
			line = line[:0]
			if _, werr := bw.Write(chunk); werr != nil {
				return werr
			}
			for err == bufio.ErrBufferFull {
				if chunk, err = br.ReadSlice('\n'); len(chunk) > 0 {
					if _, werr := bw.Write(chunk); werr != nil {
						return werr
					}
				}
			}
			if err != nil && err != io.EOF {
				return err
			}
			if err == io.EOF {
				return bw.Flush()
			}
			continue
		}
		line = append(line, chunk...)
		if bytes.HasPrefix(line, []byte("CREATE ")) || bytes.HasPrefix(line, []byte("/*!50")) {
			line = definerClause.ReplaceAll(line, nil)
		}
		if _, werr := bw.Write(line); werr != nil {
			return werr
		}
		line = line[:0]
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			return err
		}
	}
}

// isRow says whether a line that starts with held+chunk holds rows.
func isRow(held, chunk []byte) bool {
	start := held
	if len(start) == 0 {
		start = chunk
	}
	return bytes.HasPrefix(start, []byte("INSERT ")) || bytes.HasPrefix(start, []byte("REPLACE "))
}
