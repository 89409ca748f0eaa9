package config

// The target kinds cadang knows. Each registers itself with the targets registry.
import (
	_ "github.com/cadang/cadang/targets/files"
)
