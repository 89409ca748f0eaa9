package mysql_test

import (
	"testing"

	"github.com/cadang/cadang/targets/targettest"
)

func TestMain(m *testing.M) { targettest.Main(m) }
