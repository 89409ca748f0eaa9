package config

// Each kind registers itself with the targets registry; importing it here is what makes
// cadang know it (one file per kind).
import _ "github.com/cadang/cadang/targets/files"
