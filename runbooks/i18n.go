package runbooks

import (
	"fmt"
	"strings"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
)

// Languages of reports: Bahasa Indonesia (the default, for auditors) and English.
const (
	LangID = "id"
	LangEN = "en"
)

// vocab is every word a report uses, in one language.
type vocab struct {
	Code                                 string
	DrillTitle, PeriodTitle, NumberLabel string
	Opening                              string // %s the day (dateInWords), %s office
	OpeningPeriod                        string // %s from, %s to, %s office
	// Runbook reports: the title, and the opening (%s day, %s office, %s runbook,
	// %s mode, %s file, %s version, %s SHA-256, %s status, %s tickets).
	RunbookTitle, OpeningRunbook         string
	ModeTest, ModeReal, NoTicket         string
	SecBasis, SecScope, SecProcedure     string
	SecResults, SecTrend, SecFindings    string
	SecClosing, Closing                  string
	Basis                                []string
	Period, Targets, Agencies, Drcs      string
	ColNo, ColActivity, ColPerformer     string
	ColTimeStd, ColStart, ColDuration    string
	ColResult, ColTarget, ColAgency      string
	ColKind, ColDRC, ColSnapshot         string
	ColRPO, ColRTO, ColChecks, ColStatus string
	ColBytes, ColDrills, ColPassRate     string
	ColFinding, ColFollowUp, ColDate     string
	Objective, Achieved, Measured        string
	Passed, Failed                       string
	StepStatus                           map[string]string
	NoFindings, NoTrend                  string
	TrendCaption, TrendCurrent           string
	OffScale                             string
	PerformedBy, ApprovedBy, Nip         string
	Operator                             string // the performer of a step when none is configured
	Acknowledged, HeadOf                 string // the agency head's block; HeadOf %s agency
	Generated                            string
	FindStepFailed                       string // %d no, %s title, %s drc, %s error
	FindCheckFailed                      string // %s check, %s detail
	FindRPO, FindRTO                     string // %s Achieved, %s Objective
	FollowRPO, FollowRTO                 string
	Follow                               map[string]string // step key -> follow-up (%s drc)
	FollowDefault                        string
	Months, Weekdays                     []string
}

var vocabs = map[string]*vocab{
	LangID: {
		Code:           LangID,
		DrillTitle:     "BERITA ACARA UJI PEMULIHAN DRC",
		RunbookTitle:   "BERITA ACARA PELAKSANAAN RUNBOOK FAILOVER DRC",
		OpeningRunbook: "Pada hari ini %s, %s telah melaksanakan runbook failover %s dalam %s (berkas %s, versi %s, SHA-256 %s) sesuai dengan SOP Pengujian DRC, dengan status akhir %s dan rujukan tiket %s, serta hasil sebagaimana tercantum di bawah ini.",
		ModeTest:       "mode uji (pemulihan ke nama sementara, lalu dibersihkan)", ModeReal: "mode sebenarnya (failover)", NoTicket: "-",
		PeriodTitle:   "LAPORAN REKAPITULASI UJI PEMULIHAN DRC",
		NumberLabel:   "Nomor",
		Opening:       "Pada hari ini %s, %s telah melaksanakan uji pemulihan data dari Data Recovery Center (DRC) sesuai dengan SOP Pengujian DRC, dengan hasil sebagaimana tercantum di bawah ini.",
		OpeningPeriod: "Laporan ini merekapitulasi seluruh uji pemulihan data dari Data Recovery Center (DRC) yang dilaksanakan oleh %[3]s pada periode %[1]s sampai dengan %[2]s, sebagai bahan monitoring dan evaluasi.",
		SecBasis:      "A. DASAR", SecScope: "B. RUANG LINGKUP", SecProcedure: "C. PELAKSANAAN",
		SecResults: "D. HASIL PENGUJIAN", SecTrend: "E. TREN HASIL UJI", SecFindings: "F. TEMUAN DAN TINDAK LANJUT",
		SecClosing: "G. PENUTUP",
		Closing:    "Demikian berita acara ini dibuat dengan sebenarnya untuk dipergunakan sebagaimana mestinya.",
		Basis: []string{
			"Ketentuan peraturan perundang-undangan tentang penyelenggaraan pusat data dan Data Recovery Center (DRC) yang berlaku bagi instansi pelaksana;",
			"Standar Operasional Prosedur (SOP) Pengujian DRC;",
			"Jadwal uji pemulihan yang ditetapkan pada aplikasi cadang.",
		},
		Period: "Periode", Targets: "Sasaran", Agencies: "Perangkat Daerah", Drcs: "DRC",
		ColNo: "No", ColActivity: "Kegiatan", ColPerformer: "Pelaksana", ColTimeStd: "Mutu Baku (Waktu)",
		ColStart: "Mulai", ColDuration: "Durasi", ColResult: "Hasil", ColTarget: "Sasaran", ColAgency: "Perangkat Daerah",
		ColKind: "Jenis", ColDRC: "DRC", ColSnapshot: "Snapshot", ColRPO: "RPO", ColRTO: "RTO", ColChecks: "Pemeriksaan",
		ColStatus: "Status", ColBytes: "Data Dipulihkan", ColDrills: "Jumlah Uji", ColPassRate: "Lulus",
		ColFinding: "Temuan", ColFollowUp: "Tindak Lanjut", ColDate: "Tanggal",
		Objective: "target", Achieved: "capaian", Measured: "terukur",
		Passed: "LULUS", Failed: "GAGAL",
		StepStatus:   map[string]string{StepOK: "berhasil", StepFailed: "gagal", StepSkipped: "dilewati"},
		NoFindings:   "Tidak ada temuan.",
		NoTrend:      "Belum ada uji sebelumnya.",
		TrendCaption: "RTO terukur per uji (batang hijau: lulus, merah: gagal), dengan tanggal dan DRC asal pemulihan di bawah setiap batang; garis putus-putus: target RTO.",
		TrendCurrent: "Batang bertepi hitam adalah uji ini.",
		OffScale:     "di atas skala",
		PerformedBy:  "Dilaksanakan oleh", ApprovedBy: "Disetujui oleh", Nip: "NIP",
		Operator:     "Operator DRC",
		Acknowledged: "Mengetahui", HeadOf: "Kepala %s",
		Generated:       "Dibuat otomatis oleh aplikasi cadang",
		FindStepFailed:  "Langkah %d (%s) gagal pada DRC %s: %s",
		FindCheckFailed: "Pemeriksaan %s tidak terpenuhi: %s",
		FindRPO:         "RPO tercapai %s melebihi target %s.",
		FindRTO:         "RTO terukur %s melebihi target %s.",
		FollowRPO:       "Periksa jadwal dan kegagalan backup sasaran ini; pastikan replikasi ke DRC berjalan.",
		FollowRTO:       "Tinjau kapasitas jaringan/penyimpanan DRC atau sesuaikan target RTO bersama Perangkat Daerah.",
		Follow: map[string]string{
			"restore":  "Periksa integritas repositori di DRC %s (cadang verify --drc %[1]s), pulihkan objek yang rusak dari DRC lain, lalu ulangi uji.",
			"verify":   "Bandingkan data hasil pemulihan dengan sumber; selidiki perbedaan bersama Perangkat Daerah pemilik data, lalu ulangi uji.",
			"check":    "Jalankan pemeriksaan penuh repositori di DRC %s (cadang verify --drc %[1]s) dan perbaiki objek yang rusak.",
			"boot":     "Periksa citra disk dan konfigurasi domain hasil pemulihan; uji ulang setelah perbaikan.",
			"snapshot": "Pastikan sasaran memiliki snapshot yang baik di DRC %s (cadang snapshots).",
			"packs":    "Objek repositori di DRC %s rusak atau hilang: jalankan cadang verify --drc %[1]s --read-data untuk menemukan semua objek yang rusak, ganti dengan salinan dari DRC lain, lalu ulangi uji.",
		},
		FollowDefault: "Selidiki penyebab kegagalan, perbaiki, lalu ulangi uji pemulihan.",
		Months:        []string{"Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember"},
		Weekdays:      []string{"Minggu", "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu"},
	},
	LangEN: {
		Code:           LangEN,
		DrillTitle:     "DRC RESTORE DRILL MINUTES",
		RunbookTitle:   "DRC FAILOVER RUNBOOK MINUTES",
		OpeningRunbook: "On %s, %s carried out the failover runbook %s in %s (file %s, version %s, SHA-256 %s) according to the DRC testing SOP; it ended %s, with ticket references %s, and the results below.",
		ModeTest:       "test mode (restored under scratch names, then cleaned up)", ModeReal: "real mode (failover)", NoTicket: "-",
		PeriodTitle:   "DRC RESTORE DRILL SUMMARY REPORT",
		NumberLabel:   "Number",
		Opening:       "On %s, %s performed a restore drill from the Data Recovery Centers (DRC) according to the DRC testing SOP, with the results below.",
		OpeningPeriod: "This report summarises every restore drill from the Data Recovery Centers (DRC) performed by %[3]s from %[1]s to %[2]s, for monitoring and evaluation.",
		SecBasis:      "A. BASIS", SecScope: "B. SCOPE", SecProcedure: "C. PROCEDURE",
		SecResults: "D. RESULTS", SecTrend: "E. DRILL TREND", SecFindings: "F. FINDINGS AND FOLLOW-UPS",
		SecClosing: "G. CLOSING",
		Closing:    "These minutes were drawn up truthfully, to be used as required.",
		Basis: []string{
			"The laws and regulations on the operation of data centers and Data Recovery Centers (DRC) that apply to the performing office;",
			"The DRC testing standard operating procedure (SOP);",
			"The restore drill schedule set in the cadang application.",
		},
		Period: "Period", Targets: "Targets", Agencies: "Agencies", Drcs: "DRCs",
		ColNo: "No", ColActivity: "Activity", ColPerformer: "Performed by", ColTimeStd: "Time standard",
		ColStart: "Start", ColDuration: "Duration", ColResult: "Result", ColTarget: "Target", ColAgency: "Agency",
		ColKind: "Kind", ColDRC: "DRC", ColSnapshot: "Snapshot", ColRPO: "RPO", ColRTO: "RTO", ColChecks: "Checks",
		ColStatus: "Status", ColBytes: "Data restored", ColDrills: "Drills", ColPassRate: "Passed",
		ColFinding: "Finding", ColFollowUp: "Follow-up", ColDate: "Date",
		Objective: "objective", Achieved: "achieved", Measured: "measured",
		Passed: "PASSED", Failed: "FAILED",
		StepStatus:   map[string]string{StepOK: "ok", StepFailed: "failed", StepSkipped: "skipped"},
		NoFindings:   "No findings.",
		NoTrend:      "No earlier drills.",
		TrendCaption: "Measured RTO per drill (green bars: passed, red: failed), with the date and the DRC restored from under each bar; dashed line: RTO objective.",
		TrendCurrent: "The bar outlined in black is this drill.",
		OffScale:     "above the scale",
		PerformedBy:  "Performed by", ApprovedBy: "Approved by", Nip: "NIP",
		Operator:     "DRC operator",
		Acknowledged: "Acknowledged by", HeadOf: "Head of %s",
		Generated:       "Generated by the cadang application",
		FindStepFailed:  "Step %d (%s) failed at DRC %s: %s",
		FindCheckFailed: "Check %s not met: %s",
		FindRPO:         "Achieved RPO %s exceeds the objective %s.",
		FindRTO:         "Measured RTO %s exceeds the objective %s.",
		FollowRPO:       "Check this target's schedule and failed backups; make sure replication to the DRCs runs.",
		FollowRTO:       "Review the DRC's network/storage capacity, or agree a new RTO objective with the agency.",
		Follow: map[string]string{
			"restore":  "Check the repository's integrity at DRC %s (cadang verify --drc %[1]s), repair damaged objects from the other DRC, then drill again.",
			"verify":   "Compare the restored data with the source; investigate the difference with the owning agency, then drill again.",
			"check":    "Run a full repository check at DRC %s (cadang verify --drc %[1]s) and repair damaged objects.",
			"boot":     "Inspect the restored disk images and domain configuration; drill again after repair.",
			"snapshot": "Make sure the target has a good snapshot at DRC %s (cadang snapshots).",
			"packs":    "Repository objects at DRC %s are damaged or missing: run cadang verify --drc %[1]s --read-data to find every damaged object, replace them with the other DRC's copies, then drill again.",
		},
		FollowDefault: "Investigate the cause of the failure, repair it, then drill again.",
		Months:        []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		Weekdays:      []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
	},
}

// lang returns the vocabulary of a language code; Indonesian when empty or unknown.
func lang(code string) *vocab {
	if v, ok := vocabs[code]; ok {
		return v
	}
	return vocabs[LangID]
}

// ValidLanguage reports whether reports can be written in code.
func ValidLanguage(code string) bool { _, ok := vocabs[code]; return ok }

// date writes "23 November 2026".
func (v *vocab) date(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%d %s %d", t.Day(), v.Months[t.Month()-1], t.Year())
}

// longDate writes "Senin, 23 November 2026".
func (v *vocab) longDate(t time.Time) string {
	return v.Weekdays[t.Weekday()] + ", " + v.date(t)
}

// dateTime writes "23 November 2026 14:05 WIB": the time in its own zone (a
// report's, see Report.localize), labelled.
func (v *vocab) dateTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return v.date(t) + " " + t.Format("15:04") + " " + ZoneLabel(t.Location(), t)
}

// duration writes "2 jam 5 menit" / "2h 5m"; seconds only under an hour.
func (v *vocab) duration(d time.Duration) string { return msg.Duration(d, v.Code) }

// t renders a message in the vocabulary's language.
func (v *vocab) t(m Message) string { return m.In(v.Code) }

func (v *vocab) status(passed bool) string {
	if passed {
		return v.Passed
	}
	return v.Failed
}

func (v *vocab) followUp(stepKey, drc string) string {
	for prefix, text := range v.Follow {
		if strings.HasPrefix(stepKey, prefix) {
			if strings.Contains(text, "%") {
				return fmt.Sprintf(text, drc)
			}
			return text
		}
	}
	return v.FollowDefault
}

// bytes writes a size in IEC units with the language's decimal separator.
func (v *vocab) bytes(n uint64) string { return msg.Bytes(n, v.Code) }

// summaryLine says how many drills passed and failed ("1 drill", "2 drills").
func (r *Report) summaryLine(v *vocab) string {
	p, f := r.counts()
	return v.t(msg.New("report.summary", "n", p+f, "passed", p, "failed", f))
}
