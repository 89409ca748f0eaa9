package engine

import (
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/redact"
)

// scrubRun replaces the secrets (redact.Secrets of what the caller sent) in what a run
// records besides its error.
func scrubRun(r *catalog.Run, secrets []string) {
	if len(secrets) == 0 {
		return
	}
	r.Destination = redact.Scrub(r.Destination, secrets)
	for i := range r.Notes {
		r.Notes[i] = redact.Scrub(r.Notes[i], secrets)
	}
}
