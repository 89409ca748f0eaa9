package export

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// benchTar is a 64 MiB tar stream like an agency's files: half of it text that
// compresses (logs, CSV), half random (already compressed media, archives), in 1 MiB
// files.
var benchTar = sync.OnceValue(func() []byte {
	const size, file = 64 << 20, 1 << 20
	rnd := mrand.New(mrand.NewPCG(7, 11))
	words := strings.Fields("data pasien puskesmas kunjungan rujukan obat apotek tanggal nama alamat kelurahan kecamatan kota 2026 diagnosa tindakan biaya bpjs umum")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := make([]byte, file)
	for i := 0; buf.Len() < size-file-4096; i++ {
		if i%2 == 0 {
			for j := 0; j < len(body); j += 8 {
				v := rnd.Uint64()
				for k := 0; k < 8 && j+k < len(body); k++ {
					body[j+k] = byte(v >> (8 * k))
				}
			}
		} else {
			var b strings.Builder
			for b.Len() < file {
				fmt.Fprintf(&b, "%d;%s;%s;%d\n", rnd.IntN(1e6), words[rnd.IntN(len(words))], words[rnd.IntN(len(words))], rnd.IntN(1e5))
			}
			copy(body, b.String())
		}
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data/%04d", i), Mode: 0o644, Size: int64(len(body))})
		tw.Write(body)
	}
	tw.Close()
	return buf.Bytes()
})

// BenchmarkZstdOnly is the baseline: the tar stream through the same zstd encoder
// (default level, two goroutines), without age and without reading the tar headers.
func BenchmarkZstdOnly(b *testing.B) {
	plain := benchTar()
	b.SetBytes(int64(len(plain)))
	b.ResetTimer()
	for b.Loop() {
		zw, err := zstd.NewWriter(io.Discard, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(encoderConcurrency))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := zw.ReadFrom(bytes.NewReader(plain)); err != nil {
			b.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeal is a whole bundle: tar headers read, zstd, age, SHA-256.
func BenchmarkSeal(b *testing.B) {
	plain := benchTar()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	rs := []age.Recipient{id.Recipient()}
	b.SetBytes(int64(len(plain)))
	b.ResetTimer()
	var sum Summary
	for b.Loop() {
		sum, err = Seal(context.Background(), bytes.NewReader(plain), rs, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(sum.Bytes)/float64(sum.PlainBytes), "ratio")
}
