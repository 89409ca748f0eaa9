package mysql

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cadang/cadang/targets/dbdump"
)

// The scanner finds the objects of a mariadb-dump SQL stream whatever the pieces it is
// written in, and is not fooled by a routine's body or a row's text.
func TestDumpScanner(t *testing.T) {
	dump := "-- MariaDB dump 10.19\n" +
		"DROP TABLE IF EXISTS `pa``sien`;\n" +
		"CREATE TABLE `pa``sien` (\n  `id` int(11) NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;\n" +
		"INSERT INTO `pa``sien` VALUES (1,'CREATE TABLE `fake` (\\nDELIMITER ;;'),(2,'x');\n" +
		"/*!50003 SET sql_mode = '' */ ;\n" +
		"DELIMITER ;;\n" +
		"/*!50003 CREATE*/ /*!50017 DEFINER=`app`@`%`*/ /*!50003 TRIGGER catat BEFORE INSERT ON `pa``sien` FOR EACH ROW SET NEW.id = NEW.id */;;\n" +
		"/*!50003 CREATE*/ /*!50017 DEFINER=`app`@`%`*/ /*!50003 TRIGGER IF NOT EXISTS tg BEFORE INSERT ON t FOR EACH ROW SET NEW.id = NEW.id + 1 \n*/;;\n" +
		"DELIMITER ;\n" +
		"/*!50001 CREATE VIEW `v_x` AS SELECT\n 1 AS `a` */;\n" +
		"DELIMITER ;;\n" +
		"/*!50003 SET time_zone = 'SYSTEM' */ ;;\n" +
		"/*!50106 CREATE*/ /*!50117 DEFINER=`app`@`%`*/ /*!50106 EVENT `bersih` ON SCHEDULE EVERY 1 DAY DO DELETE FROM t */ ;;\n" +
		"DELIMITER ;\n" +
		"DELIMITER ;;\n" +
		"CREATE DEFINER=`app`@`%` PROCEDURE `isi`()\nBEGIN\nCREATE TABLE `tmp` (x int);\nEND ;;\n" +
		"DELIMITER ;\n" +
		"DELIMITER ;;\n" +
		"CREATE DEFINER=`app`@`%` FUNCTION `umur`(lahir DATE) RETURNS int(11)\n    DETERMINISTIC\nRETURN 1 ;;\n" +
		"DELIMITER ;\n" +
		"/*!50001 DROP VIEW IF EXISTS `v_x`*/;\n" +
		"/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`app`@`%` SQL SECURITY DEFINER */\n/*!50001 VIEW `v_x` AS select 1 AS `a` */;\n"
	want := dbdump.Objects{"tables": {"pa`sien"}, "triggers": {"catat", "tg"}, "events": {"bersih"},
		"routines": {"procedure isi", "function umur"}, "views": {"v_x"}}
	for _, size := range []int{1, 7, 4096} {
		s := newDumpScanner("db")
		for b := []byte(dump); len(b) > 0; {
			n := min(size, len(b))
			_, _ = s.Write(b[:n])
			b = b[n:]
		}
		if got := s.objects["db"]; !reflect.DeepEqual(got, want) {
			t.Errorf("pieces of %d bytes:\n got %v\nwant %v", size, got, want)
		}
	}
	// With --databases, USE says which database the objects belong to.
	s := newDumpScanner("")
	_, _ = s.Write([]byte("USE `a`;\nCREATE TABLE `t1` (\n) ;\nUSE `b`;\nCREATE TABLE `t2` (\n);\n"))
	if !reflect.DeepEqual(s.objects, map[string]dbdump.Objects{"a": {"tables": {"t1"}}, "b": {"tables": {"t2"}}}) {
		t.Errorf("--databases: %v", s.objects)
	}
}

// A dump that lacks an object of the catalog fails, naming it and the privilege.
func TestCheckDumpNamesMissing(t *testing.T) {
	catalog := dbdump.Objects{"tables": {"t"}, "routines": {"procedure kunjungan_pasien"}}
	dump := dbdump.Objects{"tables": {"t"}}
	err := checkDump("arsip", objectKinds, catalog, dump)
	if err == nil || !strings.Contains(err.Error(), "procedure kunjungan_pasien") || !strings.Contains(err.Error(), "SELECT ON mysql.proc") {
		t.Fatalf("got %v", err)
	}
	if err := checkDump("arsip", objectKinds, catalog, catalog); err != nil {
		t.Fatalf("same objects: %v", err)
	}
}
