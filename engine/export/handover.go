package export

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // the report's zones without depending on the host's zoneinfo

	"github.com/cadang/cadang/runbooks"
	"github.com/cadang/cadang/runbooks/msg"
)

// Policy is the clause of the data-center policy under which exported data leaves the
// provider's responsibility: "data yang sudah diekspor ke luar pusat data bukan lagi
// tanggung jawab penyedia".
const Policy = "5.2.b"

// Approver is one approval of an export request.
type Approver struct {
	Name    string    `json:"name"`
	Role    string    `json:"role,omitempty"` // e.g. Kepala Bidang Aplikasi Informatika
	Time    time.Time `json:"time"`
	Comment string    `json:"comment,omitempty"`
}

// Handover is the record of an export bundle's hand-over to the agency that asked for
// it: what was exported, who asked, who approved, to whose key it is encrypted, and
// when and by whom it was downloaded. Render writes it as the "Berita Acara Serah
// Terima Data".
type Handover struct {
	ExportID     uint64     `json:"export_id"`
	Agency       string     `json:"agency"` // the agency's name, e.g. Dinas Kesehatan Kota Singkawang
	Target       string     `json:"target"`
	Snapshot     string     `json:"snapshot"`
	SnapshotTime time.Time  `json:"snapshot_time,omitzero"`
	Paths        []string   `json:"paths,omitempty"` // none: the whole snapshot
	Ticket       string     `json:"ticket,omitempty"`
	Requester    string     `json:"requester"`
	Approvers    []Approver `json:"approvers"`
	Recipient    string     `json:"recipient"` // the age public key(s) the bundle is encrypted to
	Bytes        int64      `json:"bytes"`     // of the bundle
	SHA256       string     `json:"sha256"`    // hex, of the bundle
	Created      time.Time  `json:"created"`
	Downloaded   time.Time  `json:"downloaded"`
	DownloadedBy string     `json:"downloaded_by,omitempty"`
	Source       string     `json:"source,omitempty"` // where the download came from (address)
	// Provider is the data center's operator, e.g. "Dinas Komunikasi dan Informatika
	// Provinsi Kalimantan Barat"; may be empty.
	Provider string `json:"provider,omitempty"`
	// Zone is the clock the report prints (WIB, WITA, WIT...); nil is Asia/Jakarta.
	Zone *time.Location `json:"-"`
}

// Formats of Render.
const (
	FormatJSON = "json"
	FormatHTML = "html"
	FormatPDF  = "pdf"
)

// Render writes the hand-over report in format (json, html or pdf) and language lang
// (id, the default when empty, or en). Every time is printed in h.Zone. A bundle not
// yet downloaded has no hand-over, and is an error, as is a record without its
// export number, agency or bundle digest.
func (h Handover) Render(format, lang string) ([]byte, error) {
	v, err := vocabOf(lang)
	if err != nil {
		return nil, err
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	h = h.localize()
	switch format {
	case FormatJSON:
		return h.json(v)
	case FormatHTML:
		return h.html(v)
	case FormatPDF:
		return h.pdf(v)
	}
	return nil, fmt.Errorf("export: handover: unknown format %q (want json, html or pdf)", format)
}

func (h Handover) check() error {
	var missing []string
	if h.ExportID == 0 {
		missing = append(missing, "export id")
	}
	if strings.TrimSpace(h.Agency) == "" {
		missing = append(missing, "agency")
	}
	if h.Downloaded.IsZero() {
		missing = append(missing, "download time (the bundle has not been handed over)")
	}
	if len(missing) > 0 {
		return errors.New("export: handover: missing " + strings.Join(missing, ", "))
	}
	if b, err := hex.DecodeString(h.SHA256); err != nil || len(b) != 32 {
		return fmt.Errorf("export: handover: SHA-256 %q is not 64 hex digits", h.SHA256)
	}
	return nil
}

// location is the report's zone: h.Zone, else Asia/Jakarta.
func (h Handover) location() *time.Location {
	if h.Zone != nil {
		return h.Zone
	}
	loc, err := time.LoadLocation(runbooks.DefaultTimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// localize returns h with every time in its zone (and its own copy of the slices).
func (h Handover) localize() Handover {
	loc := h.location()
	h.Zone = loc
	in := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.In(loc)
	}
	h.SnapshotTime, h.Created, h.Downloaded = in(h.SnapshotTime), in(h.Created), in(h.Downloaded)
	h.Approvers = append([]Approver(nil), h.Approvers...)
	for i := range h.Approvers {
		h.Approvers[i].Time = in(h.Approvers[i].Time)
	}
	h.Paths = append([]string(nil), h.Paths...)
	return h
}

// json writes the record with the report's texts, for readers with no renderer.
func (h Handover) json(v *vocab) ([]byte, error) {
	doc := struct {
		Document string `json:"document"`
		Language string `json:"language"`
		TimeZone string `json:"time_zone"`
		ZoneName string `json:"zone_label"`
		Handover
		Policy    string `json:"policy"`
		Opening   string `json:"opening"`
		Statement string `json:"statement"` // the responsibility clause
	}{
		Document: v.Title, Language: v.Code, TimeZone: h.Zone.String(), ZoneName: h.zoneLabel(),
		Handover: h, Policy: Policy, Opening: h.opening(v), Statement: v.Responsibility,
	}
	if doc.Approvers == nil {
		doc.Approvers = []Approver{}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("export: handover: %w", err)
	}
	return append(b, '\n'), nil
}

func (h Handover) zoneLabel() string { return runbooks.ZoneLabel(h.location(), h.Downloaded) }

// opening is the report's first sentence: the day and time of the hand-over.
func (h Handover) opening(v *vocab) string {
	return fmt.Sprintf(v.Opening, v.dateInWords(h.Downloaded), v.clock(h.Downloaded))
}

// parties are the two numbered parties of the opening.
func (h Handover) parties(v *vocab) []string {
	first := v.PartyOneAnon
	if h.Provider != "" {
		first = fmt.Sprintf(v.PartyOne, h.Provider)
	}
	second := fmt.Sprintf(v.PartyTwoAgency, h.Agency)
	if who := h.receiver(); who != "" {
		second = fmt.Sprintf(v.PartyTwo, who, h.Agency)
	}
	return []string{first, second}
}

// receiver is who took the bundle for the agency: who downloaded it, else who asked.
func (h Handover) receiver() string {
	if h.DownloadedBy != "" {
		return h.DownloadedBy
	}
	return h.Requester
}

// clauses are the numbered body of the report, after the parties.
func (h Handover) clauses(v *vocab) []string {
	requester := h.Requester
	if requester == "" {
		requester = h.Agency
	}
	request := fmt.Sprintf(v.RequestClause, requester)
	if len(h.Approvers) > 0 {
		request = fmt.Sprintf(v.RequestApprovedClause, requester)
	}
	return []string{
		fmt.Sprintf(v.TransferClause, h.Agency),
		request,
		v.EncryptionClause,
		v.IntegrityClause,
		v.Responsibility,
	}
}

// fact is one row of the table of facts.
type fact struct{ Label, Value string }

func (h Handover) facts(v *vocab) []fact {
	dash := func(s string) string {
		if strings.TrimSpace(s) == "" {
			return "-"
		}
		return s
	}
	snapshot := dash(h.Snapshot)
	if !h.SnapshotTime.IsZero() {
		snapshot += " (" + v.dateTime(h.SnapshotTime) + ")"
	}
	paths := v.WholeSnapshot
	if len(h.Paths) > 0 {
		paths = strings.Join(h.Paths, "\n")
	}
	return []fact{
		{v.FactExport, fmt.Sprint(h.ExportID)},
		{v.FactAgency, h.Agency},
		{v.FactTarget, dash(h.Target)},
		{v.FactSnapshot, snapshot},
		{v.FactPaths, paths},
		{v.FactTicket, dash(h.Ticket)},
		{v.FactRequester, dash(h.Requester)},
		{v.FactFormat, v.FormatText},
		{v.FactRecipient, dash(h.Recipient)},
		{v.FactBytes, v.size(h.Bytes)},
		{v.FactSHA256, h.SHA256},
		{v.FactCreated, v.dateTime(h.Created)},
		{v.FactDownloaded, v.dateTime(h.Downloaded)},
		{v.FactDownloadedBy, dash(h.DownloadedBy)},
		{v.FactSource, dash(h.Source)},
	}
}

// blankName is the line a name is written on by hand.
const blankName = "(..........................................)"

// signer is one signature block.
type signer struct{ Party, Role, Name string }

func (h Handover) signers(v *vocab) []signer {
	second := h.receiver()
	if second == "" {
		second = blankName
	}
	role := v.ProviderRole
	if h.Provider != "" {
		role += "\n" + h.Provider
	}
	return []signer{
		{v.FirstParty, role, blankName},
		{v.SecondParty, v.RecipientRole + "\n" + h.Agency, second},
	}
}

// vocab is every word of the report, in one language.
type vocab struct {
	Code                                 string
	Title, NumberLabel                   string
	Opening                              string // %s day in words, %s clock
	PartyOne, PartyOneAnon               string // %s provider
	PartyTwo, PartyTwoAgency             string // %s person, %s agency / %s agency
	Agreed                               string // leads the numbered clauses
	TransferClause                       string // %s agency
	RequestClause, RequestApprovedClause string // %s requester
	EncryptionClause, IntegrityClause    string
	Responsibility, Closing              string
	FactsCaption, ApprovalsCaption       string
	FactExport, FactAgency, FactTarget   string
	FactSnapshot, FactPaths, FactTicket  string
	FactRequester, FactFormat            string
	FactRecipient, FactBytes, FactSHA256 string
	FactCreated, FactDownloaded          string
	FactDownloadedBy, FactSource         string
	WholeSnapshot, FormatText            string
	ColNo, ColName, ColRole              string
	ColTime, ColComment                  string
	NoApprovals                          string
	FirstParty, SecondParty              string
	ProviderRole, RecipientRole          string
	Generated                            string
	ByteUnit                             string
	Thousands                            string
	ClockSep                             string
	At                                   string // before a clock time in a date
	Months, Weekdays                     []string
}

var vocabs = map[string]*vocab{
	runbooks.LangID: {
		Code:                  runbooks.LangID,
		Title:                 "BERITA ACARA SERAH TERIMA DATA",
		NumberLabel:           "Nomor Ekspor",
		Opening:               "Pada hari ini, %s, pukul %s, telah dilakukan serah terima data antara:",
		PartyOne:              "%s, selaku penyedia layanan pusat data, yang selanjutnya disebut PIHAK PERTAMA;",
		PartyOneAnon:          "Penyedia layanan pusat data, yang selanjutnya disebut PIHAK PERTAMA;",
		PartyTwo:              "%s, atas nama %s, selaku penerima data, yang selanjutnya disebut PIHAK KEDUA.",
		PartyTwoAgency:        "%s, selaku pemilik dan penerima data, yang selanjutnya disebut PIHAK KEDUA.",
		Agreed:                "PIHAK PERTAMA dan PIHAK KEDUA menyatakan hal-hal sebagai berikut:",
		TransferClause:        "PIHAK PERTAMA menyerahkan kepada PIHAK KEDUA, dan PIHAK KEDUA menerima dari PIHAK PERTAMA, salinan data milik %s dengan rincian sebagaimana tercantum dalam Tabel 1.",
		RequestClause:         "Serah terima ini dilaksanakan atas permintaan %s.",
		RequestApprovedClause: "Serah terima ini dilaksanakan atas permintaan %s. Permintaan tersebut telah disetujui sebagaimana tercantum dalam Tabel 2.",
		EncryptionClause:      "Data diserahkan dalam satu berkas terenkripsi (tar.zst.age) yang hanya dapat dibuka dengan kunci privat pasangan dari kunci publik penerima yang tercantum dalam Tabel 1. PIHAK PERTAMA tidak memegang salinan berkas ekspor ini dalam bentuk yang dapat dibaca.",
		IntegrityClause:       "Keutuhan berkas dapat diperiksa dengan mencocokkan nilai SHA-256 berkas yang diterima dengan nilai yang tercantum dalam Tabel 1.",
		Responsibility:        "Dengan diserahterimakannya data tersebut, sejak saat itu data berada di luar tanggung jawab penyedia layanan pusat data sebagaimana diatur dalam kebijakan " + Policy + ".",
		Closing:               "Demikian berita acara serah terima data ini dibuat dengan sebenarnya untuk dipergunakan sebagaimana mestinya.",
		FactsCaption:          "Tabel 1. Rincian Data yang Diserahterimakan",
		ApprovalsCaption:      "Tabel 2. Persetujuan Permintaan Ekspor",
		FactExport:            "Nomor Ekspor", FactAgency: "Perangkat Daerah", FactTarget: "Sasaran Pencadangan",
		FactSnapshot: "Snapshot", FactPaths: "Cakupan Data (Path)", FactTicket: "Nomor Tiket",
		FactRequester: "Pemohon", FactFormat: "Bentuk Berkas",
		FactRecipient: "Kunci Publik Penerima", FactBytes: "Ukuran Berkas", FactSHA256: "SHA-256 Berkas",
		FactCreated: "Waktu Pembuatan Berkas", FactDownloaded: "Waktu Pengunduhan",
		FactDownloadedBy: "Diunduh oleh", FactSource: "Asal Pengunduhan (Alamat)",
		WholeSnapshot: "Seluruh isi snapshot",
		FormatText:    "tar.zst.age (arsip tar, dikompresi zstd, dienkripsi age)",
		ColNo:         "No", ColName: "Nama", ColRole: "Jabatan/Peran", ColTime: "Waktu", ColComment: "Catatan",
		NoApprovals: "Tidak ada persetujuan yang tercatat.",
		FirstParty:  "PIHAK PERTAMA", SecondParty: "PIHAK KEDUA",
		ProviderRole: "Penyedia Layanan Pusat Data", RecipientRole: "Penerima Data",
		Generated: "Dibuat otomatis oleh aplikasi cadang",
		ByteUnit:  "byte", Thousands: ".", ClockSep: ".", At: "pukul",
		Months:   []string{"Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember"},
		Weekdays: []string{"Minggu", "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu"},
	},
	runbooks.LangEN: {
		Code:                  runbooks.LangEN,
		Title:                 "MINUTES OF DATA HANDOVER",
		NumberLabel:           "Export number",
		Opening:               "On %s, at %s, data was handed over between:",
		PartyOne:              "%s, as the data center service provider, hereinafter the FIRST PARTY;",
		PartyOneAnon:          "The data center service provider, hereinafter the FIRST PARTY;",
		PartyTwo:              "%s, on behalf of %s, as the recipient of the data, hereinafter the SECOND PARTY.",
		PartyTwoAgency:        "%s, as the owner and recipient of the data, hereinafter the SECOND PARTY.",
		Agreed:                "The FIRST PARTY and the SECOND PARTY state the following:",
		TransferClause:        "The FIRST PARTY hands over to the SECOND PARTY, and the SECOND PARTY receives from the FIRST PARTY, a copy of the data of %s as detailed in Table 1.",
		RequestClause:         "This handover is made at the request of %s.",
		RequestApprovedClause: "This handover is made at the request of %s. The request was approved as listed in Table 2.",
		EncryptionClause:      "The data is handed over as one encrypted file (tar.zst.age) that only the private key matching the recipient's public key in Table 1 can open. The FIRST PARTY holds no readable copy of this export file.",
		IntegrityClause:       "The file's integrity can be checked by comparing the SHA-256 of the file received with the value in Table 1.",
		Responsibility:        "With the handover of this data, from that moment the data is outside the responsibility of the data center service provider, as set out in policy " + Policy + ".",
		Closing:               "These minutes of data handover were drawn up truthfully, to be used as required.",
		FactsCaption:          "Table 1. Details of the data handed over",
		ApprovalsCaption:      "Table 2. Approvals of the export request",
		FactExport:            "Export number", FactAgency: "Agency", FactTarget: "Backup target",
		FactSnapshot: "Snapshot", FactPaths: "Paths", FactTicket: "Ticket",
		FactRequester: "Requested by", FactFormat: "File format",
		FactRecipient: "Recipient's public key", FactBytes: "File size", FactSHA256: "File SHA-256",
		FactCreated: "File created", FactDownloaded: "Downloaded at",
		FactDownloadedBy: "Downloaded by", FactSource: "Downloaded from",
		WholeSnapshot: "The whole snapshot",
		FormatText:    "tar.zst.age (tar archive, zstd-compressed, age-encrypted)",
		ColNo:         "No", ColName: "Name", ColRole: "Role", ColTime: "Time", ColComment: "Comment",
		NoApprovals: "No approvals recorded.",
		FirstParty:  "FIRST PARTY", SecondParty: "SECOND PARTY",
		ProviderRole: "Data center service provider", RecipientRole: "Recipient of the data",
		Generated: "Generated by the cadang application",
		ByteUnit:  "bytes", Thousands: ",", ClockSep: ":", At: "at",
		Months:   []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		Weekdays: []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
	},
}

func vocabOf(lang string) (*vocab, error) {
	if lang == "" {
		lang = runbooks.LangID
	}
	if v, ok := vocabs[lang]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("export: handover: unknown language %q (want id or en)", lang)
}

// date writes "1 Desember 2026".
func (v *vocab) date(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%d %s %d", t.Day(), v.Months[t.Month()-1], t.Year())
}

// clock writes "14.05 WIB" (Indonesian) or "14:05 WIB": the time in its own zone.
func (v *vocab) clock(t time.Time) string {
	return t.Format("15"+v.ClockSep+"04") + " " + runbooks.ZoneLabel(t.Location(), t)
}

// dateTime writes "1 Desember 2026 pukul 14.05 WIB" / "1 December 2026 at 14:05 WIB".
func (v *vocab) dateTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return v.date(t) + " " + v.At + " " + v.clock(t)
}

// dateInWords writes the day of the opening: in Indonesian, as a Berita Acara spells
// it out, "Selasa, tanggal satu bulan Desember tahun dua ribu dua puluh enam
// (01-12-2026)"; in English "Tuesday, 1 December 2026".
func (v *vocab) dateInWords(t time.Time) string {
	day := v.Weekdays[t.Weekday()]
	if v.Code != runbooks.LangID {
		return day + ", " + v.date(t)
	}
	return fmt.Sprintf("%s, tanggal %s bulan %s tahun %s (%s)", day, runbooks.Terbilang(int64(t.Day())),
		v.Months[t.Month()-1], runbooks.Terbilang(int64(t.Year())), t.Format("02-01-2006"))
}

// size writes "10 MiB (10.485.760 byte)".
func (v *vocab) size(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%s %s)", msg.Bytes(uint64(n), v.Code), v.group(n), v.ByteUnit)
}

// group writes n with thousands separators.
func (v *vocab) group(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(v.Thousands)
		}
		b.WriteRune(c)
	}
	return b.String()
}
