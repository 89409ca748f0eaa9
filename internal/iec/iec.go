// Package iec prints byte sizes in IEC units, as restic does: 0 B, 512 B, 1.5 KiB,
// 200.0 MiB, up to EiB. One behaviour for the CLI, the logs and the records (reports
// format sizes per language in runbooks/msg).
//
// It imports nothing of cadang; any package may use it.
package iec

import "fmt"

// Bytes prints n: whole bytes below 1 KiB, else one decimal in the largest unit that
// keeps the number at least 1. A negative n (a difference) keeps its sign.
func Bytes(n int64) string {
	if n < 0 {
		if n == -n { // the smallest int64 has no positive counterpart
			return "-8.0 EiB"
		}
		return "-" + Bytes(-n)
	}
	return UBytes(uint64(n))
}

// UBytes is Bytes for an unsigned count.
func UBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
