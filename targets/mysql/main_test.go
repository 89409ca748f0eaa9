package mysql_test

import (
	"testing"

	"github.com/cadang/cadang/internal/targettest"
)

func TestMain(m *testing.M) { targettest.Main(m) }
