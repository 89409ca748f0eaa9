// Package layers holds no code: its test enforces the arrows between cadang's parts
// (see layers_test.go), the way restic's depguard rules do, with nothing to install.
package layers
