package postgres

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cadang/cadang/targets/dbdump"
)

// The objects of `pg_restore --list`: descriptions with spaces, tags with spaces.
func TestParseTOC(t *testing.T) {
	toc := `;
; Archive created at 2026-12-01 04:00:00 UTC
;
2; 3079 16385 EXTENSION - pgcrypto 
215; 1259 16400 TABLE klinik pasien app
216; 1259 16401 SEQUENCE klinik pasien_id_seq app
3340; 0 0 SEQUENCE OWNED BY klinik pasien_id_seq app
217; 1259 16410 VIEW klinik v_umur app
218; 1259 16411 MATERIALIZED VIEW klinik mv_rekap app
3410; 0 16411 MATERIALIZED VIEW DATA klinik mv_rekap app
3411; 0 0 TABLE ATTACH klinik pasien_2026 app
230; 1255 16420 FUNCTION klinik umur(date, integer) app
231; 1255 16421 PROCEDURE public isi() app
3400; 0 16400 TABLE DATA klinik pasien app
3401; 0 0 SEQUENCE SET klinik pasien_id_seq app
3200; 2620 16430 TRIGGER klinik pasien catat app
`
	got, err := parseTOC(strings.NewReader(toc))
	if err != nil {
		t.Fatal(err)
	}
	want := dbdump.Objects{"extensions": {"pgcrypto"}, "tables": {"klinik.pasien"}, "sequences": {"klinik.pasien_id_seq"},
		"views": {"klinik.v_umur", "klinik.mv_rekap"}, "functions": {"klinik.umur", "public.isi"}, "triggers": {"klinik.pasien catat"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}
