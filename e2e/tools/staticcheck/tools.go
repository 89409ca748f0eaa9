//go:build tools

// Package tools pins staticcheck, built by e2e/tools/build.sh staticcheck.
package tools

import _ "honnef.co/go/tools/cmd/staticcheck"
