package mysql

import (
	"io"
	"strings"
	"testing"
)

// definer=drop rewrites the definitions' DEFINER clauses and nothing else.
func TestDropDefiners(t *testing.T) {
	row := "INSERT INTO `t` VALUES (1,'DEFINER=`x`@`y` stays'),(2,'" + strings.Repeat("z", 3<<20) + "');\n"
	in := "CREATE DEFINER=`app`@`%` PROCEDURE `isi`()\nBEGIN\n  SELECT 'DEFINER=`a`@`b`';\nEND ;;\n" +
		"/*!50003 CREATE*/ /*!50017 DEFINER=`app`@`%`*/ /*!50003 TRIGGER catat BEFORE INSERT ON t FOR EACH ROW SET NEW.id = 1 */;;\n" +
		"/*!50106 CREATE*/ /*!50117 DEFINER=`a``b`@`localhost`*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY DO SELECT 1 */ ;;\n" +
		"/*!50013 DEFINER=`app`@`%` SQL SECURITY DEFINER */\n" + row + "no newline at the end"
	want := "CREATE PROCEDURE `isi`()\nBEGIN\n  SELECT 'DEFINER=`a`@`b`';\nEND ;;\n" +
		"/*!50003 CREATE*/ /*!50017 */ /*!50003 TRIGGER catat BEFORE INSERT ON t FOR EACH ROW SET NEW.id = 1 */;;\n" +
		"/*!50106 CREATE*/ /*!50117 */ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY DO SELECT 1 */ ;;\n" +
		"/*!50013 SQL SECURITY DEFINER */\n" + row + "no newline at the end"
	r := dropDefiners(strings.NewReader(in))
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("rewritten dump differs:\n got %.600q\nwant %.600q", got, want)
	}
}
