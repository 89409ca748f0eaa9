package export

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// Extension is the file name extension of a bundle: a tar, compressed with zstd,
// encrypted with age.
const Extension = ".tar.zst.age"

// Summary is what Seal wrote.
type Summary struct {
	PlainBytes int64  `json:"plain_bytes"` // bytes of the tar stream
	Bytes      int64  `json:"bytes"`       // bytes of the bundle (the ciphertext)
	SHA256     string `json:"sha256"`      // hex SHA-256 of the bundle (the ciphertext)
	Files      int    `json:"files"`       // entries of the tar stream
}

// encoderConcurrency bounds the goroutines of the zstd encoder: an export shares the
// host with backups and replication.
const encoderConcurrency = 2

// chunk is the size of the reads that move the tar stream into the encoder.
const chunk = 256 << 10

// Seal writes the bundle of tarStream to w: the tar, compressed with zstd (default
// level), encrypted with age to recipients. It reads the tar headers on the way
// through, without holding more than a chunk of the stream, to count the entries
// and to make sure the stream is a whole tar archive: a malformed stream, one
// truncated (mid-entry, or before the archive's end-of-archive marker), or one with
// data after that marker is an error, and then what was written to w is not a
// bundle to hand over. The plaintext goes nowhere but into the encoder. Seal stops
// with ctx's error when ctx is done.
//
// The Summary counts the tar's bytes and entries and the bundle's bytes and SHA-256
// (what the hand-over report prints); on error it holds what was done so far.
func Seal(ctx context.Context, tarStream io.Reader, recipients []age.Recipient, w io.Writer) (Summary, error) {
	var sum Summary
	if len(recipients) == 0 {
		return sum, errors.New("export: seal: no recipients")
	}
	out := &hashWriter{w: w, h: sha256.New()}
	enc, err := age.Encrypt(out, recipients...)
	if err != nil {
		return sum, fmt.Errorf("export: seal: %w", err)
	}
	zw, err := zstd.NewWriter(enc, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(encoderConcurrency))
	if err != nil {
		return sum, fmt.Errorf("export: seal: %w", err)
	}
	in := &countReader{r: ctxReader{ctx: ctx, r: tarStream}}
	files, err := feed(io.TeeReader(in, zw), in)
	sum.Files, sum.PlainBytes = files, in.n
	if err != nil {
		// The bundle is void: release the encoder without flushing it into w.
		zw.Reset(io.Discard)
		zw.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		sum.Bytes, sum.SHA256 = out.n, out.sum()
		return sum, fmt.Errorf("export: seal: %w", err)
	}
	if err := zw.Close(); err != nil {
		sum.Bytes, sum.SHA256 = out.n, out.sum()
		return sum, fmt.Errorf("export: seal: compress: %w", err)
	}
	if err := enc.Close(); err != nil {
		sum.Bytes, sum.SHA256 = out.n, out.sum()
		return sum, fmt.Errorf("export: seal: encrypt: %w", err)
	}
	sum.Bytes, sum.SHA256 = out.n, out.sum()
	return sum, nil
}

// feed reads the tar stream r (which copies what it reads into the encoder) to its
// end, entry by entry, and returns the number of entries. in counts the bytes read.
func feed(r io.Reader, in *countReader) (int, error) {
	tr := tar.NewReader(r)
	buf := make([]byte, chunk)
	files := 0
	for {
		before := in.n
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			// archive/tar also says io.EOF when the stream just stops between two
			// entries; only the end-of-archive marker (two zero blocks, read by this
			// last call) makes the archive whole. The padding of the last entry's data
			// (under a block) is read here too.
			if in.n-before < 2*512 {
				return files, fmt.Errorf("tar stream truncated after %d entries (%d bytes): no end-of-archive marker", files, in.n)
			}
			return files, trailer(r, buf, in)
		}
		if err != nil {
			return files, tarError(err, files, in.n)
		}
		files++
		for {
			_, err := tr.Read(buf)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return files, tarError(err, files, in.n)
			}
		}
	}
}

// trailer reads what follows the end-of-archive marker: tar writers pad an archive
// to a record size (GNU tar to 10 KiB) with zeros, which is kept; anything else is
// an error (archive/tar and tar x would ignore it: a second archive, or garbage).
func trailer(r io.Reader, buf []byte, in *countReader) error {
	for {
		n, err := r.Read(buf)
		for _, b := range buf[:n] {
			if b != 0 {
				return fmt.Errorf("tar stream has data after its end-of-archive marker (at byte %d)", in.n-int64(n))
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func tarError(err error, files int, at int64) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("tar stream truncated in entry %d (at byte %d)", files, at)
	}
	return fmt.Errorf("tar stream malformed after %d entries (at byte %d): %w", files, at, err)
}

// Open returns the tar stream of a bundle, for one of ids: age decryption, then zstd
// decompression, both streaming. A wrong identity fails here; damage or truncation of
// the bundle fails a later Read (age authenticates every chunk and the end of the
// stream), never passes as a shorter tar.
func Open(r io.Reader, ids ...age.Identity) (io.Reader, error) {
	if len(ids) == 0 {
		return nil, errors.New("export: open: no identity")
	}
	dec, err := age.Decrypt(r, ids...)
	if err != nil {
		return nil, fmt.Errorf("export: open: %w", err)
	}
	src := &stickyReader{r: dec}
	// One goroutine-free decoder: nothing to close when the reader is dropped.
	zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("export: open: %w", err)
	}
	return &openReader{zr: zr, src: src}, nil
}

// openReader releases the decoder at the end of the stream, and ends only where the
// age stream ends, authenticated: the zstd decoder takes an error of its source at a
// frame boundary (age's "truncated") for the end of its input.
type openReader struct {
	zr  *zstd.Decoder
	src *stickyReader
	err error
}

func (o *openReader) Read(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.zr.Read(p)
	if err == nil {
		return n, nil
	}
	o.zr.Close()
	switch {
	case !errors.Is(err, io.EOF):
	case o.src.err != nil && !errors.Is(o.src.err, io.EOF):
		err = o.src.err
	default:
		// The decoder is done: the age stream must be too, at its marked end.
		var one [1]byte
		if m, rerr := io.ReadFull(o.src, one[:]); m > 0 {
			err = errors.New("data after the end of the compressed stream")
		} else if !errors.Is(rerr, io.EOF) {
			err = rerr
		}
	}
	if !errors.Is(err, io.EOF) {
		err = fmt.Errorf("export: open: %w", err)
	}
	o.err = err
	return n, err
}

// stickyReader keeps the first error of r.
type stickyReader struct {
	r   io.Reader
	err error
}

func (s *stickyReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// hashWriter hashes and counts what goes to w.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

func (hw *hashWriter) sum() string { return hex.EncodeToString(hw.h.Sum(nil)) }

// countReader counts what is read.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops reading when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
