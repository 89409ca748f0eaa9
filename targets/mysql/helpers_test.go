package mysql_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets/mysql"
)

// source is a database of a test with its own password user, who may dump it and
// create and fill the test's restore destinations (databases named cadang_*).
type source struct {
	my       *testenv.My
	db       string
	user     string
	password string
	passFile string
}

func newSource(t *testing.T, my *testenv.My) *source {
	t.Helper()
	s := &source{my: my, password: `pw-` + testenv.Name("x") + `"with\odd'chars #`}
	s.user = my.CreateUser(t, "cadang_user", s.password)
	s.db = my.CreateDB(t, "cadang_src")
	my.Exec(t, "", fmt.Sprintf("GRANT ALL PRIVILEGES ON `cadang\\_%%`.* TO '%s'@'%%'; GRANT RELOAD, PROCESS ON *.* TO '%s'@'%%';", s.user, s.user))
	s.passFile = testenv.SecretFile(t, s.password)
	return s
}

func (s *source) config() *mysql.Config {
	return &mysql.Config{Host: s.my.Host, Port: s.my.Port, Database: s.db, User: s.user, PasswordFile: s.passFile}
}

func (s *source) url(db string) string {
	return fmt.Sprintf("mysql://%s:%d/%s", s.my.Host, s.my.Port, db)
}

// tableState is, per base table of db, its row count and an md5 of its rows in order
// (every column, binary-safe), and per routine, trigger, view and event its definition:
// what a restore must give back.
func tableState(t *testing.T, my *testenv.My, db string) map[string]string {
	t.Helper()
	state := map[string]string{}
	tables := my.Query(t, "", "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = '"+db+"' ORDER BY 1")
	for _, line := range strings.Split(tables, "\n") {
		if line == "" {
			continue
		}
		name, typ, _ := strings.Cut(line, "\t")
		if typ == "VIEW" {
			def := my.Query(t, "", "SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '"+db+"' AND TABLE_NAME = '"+name+"'")
			state["view "+name] = strings.ReplaceAll(def, "`"+db+"`.", "`DB`.") // a view names its database
			continue
		}
		n := my.Query(t, "", "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '"+db+"' AND TABLE_NAME = '"+name+"'")
		var order []string
		for i := 1; i <= atoi(t, n); i++ {
			order = append(order, fmt.Sprint(i))
		}
		rows := my.Query(t, db, "SET time_zone = '+00:00'; SELECT * FROM `"+name+"` ORDER BY "+strings.Join(order, ", "))
		sum := md5.Sum([]byte(rows))
		count := my.Query(t, db, "SELECT COUNT(*) FROM `"+name+"`")
		state["table "+name] = count + " " + hex.EncodeToString(sum[:])
	}
	for _, q := range []string{
		"SELECT CONCAT('routine ', ROUTINE_NAME), ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '%s'",
		"SELECT CONCAT('trigger ', TRIGGER_NAME), ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '%s'",
		"SELECT CONCAT('event ', EVENT_NAME), EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '%s'",
	} {
		for _, line := range strings.Split(my.Query(t, "", fmt.Sprintf(q, db)), "\n") {
			if k, v, ok := strings.Cut(line, "\t"); ok {
				state[k] = v
			}
		}
	}
	return state
}

func atoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}
