package dashboard

// Languages of the pages: Bahasa Indonesia (the default, formal) and English.
const (
	langID = "id"
	langEN = "en"
)

// words are the pages' texts: key -> {id, en}. A key without a text shows as itself
// (a test reads every template's keys).
var words = map[string][2]string{
	"title":         {"cadang — Dasbor Pencadangan", "cadang — Backup Dashboard"},
	"fleet":         {"Ringkasan", "Fleet"},
	"drills":        {"Uji Pemulihan & Laporan", "Drills & Reports"},
	"requests":      {"Permohonan", "Requests"},
	"audit":         {"Jejak Audit", "Audit Log"},
	"logout":        {"Keluar", "Sign out"},
	"login":         {"Masuk", "Sign in"},
	"login.intro":   {"Masukkan token API Anda. Token hanya disimpan di memori server selama sesi berlangsung.", "Enter your API token. It is kept in the server's memory only, for the session."},
	"login.token":   {"Token API", "API token"},
	"login.refused": {"Token tidak diterima (tidak dikenal, dicabut, atau kedaluwarsa).", "The token is not accepted (unknown, revoked or expired)."},
	"login.portal":  {"Token portal bertindak atas nama instansi dan tidak dapat dipakai untuk dasbor.", "A portal token acts for agencies and cannot sign in to the dashboard."},
	"signed.as":     {"Masuk sebagai", "Signed in as"},
	"role":          {"peran", "role"},
	"agency":        {"Instansi", "Agency"},
	"agencies":      {"Instansi", "Agencies"},
	"targets":       {"Target", "Targets"},
	"target":        {"Target", "Target"},
	"kind":          {"Jenis", "Kind"},
	"schedule":      {"Jadwal", "Schedule"},
	"state":         {"Keadaan", "State"},
	"rpo.grade":     {"Tingkat RPO", "RPO grade"},
	"last.backup":   {"Cadangan terakhir", "Last backup"},
	"newest.good":   {"Snapshot baik terbaru", "Newest good snapshot"},
	"next.run":      {"Jadwal berikutnya", "Next run"},
	"last.drill":    {"Uji pemulihan terakhir", "Last drill"},
	"ok":            {"baik", "ok"},
	"late":          {"terlambat", "late"},
	"failed":        {"gagal", "failed"},
	"never":         {"belum pernah", "never"},
	"exceeded":      {"terlampaui", "exceeded"},
	"severe":        {"berat", "severe"},
	"critical":      {"kritis", "critical"},
	"none":          {"—", "—"},
	"drcs":          {"Pusat Data Pemulihan (DRC)", "Data Recovery Centers (DRCs)"},
	"drc":           {"DRC", "DRC"},
	"health":        {"Kesehatan", "Health"},
	"lag":           {"Ketertinggalan replikasi", "Replication lag"},
	"free":          {"Ruang kosong", "Free space"},
	"queue":         {"Antrean", "Queue"},
	"queued":        {"menunggu", "queued"},
	"running":       {"berjalan", "running"},
	"alarms":        {"Alarm", "Alarms"},
	"no.alarms":     {"Tidak ada alarm aktif.", "No active alarms."},

	// The agents (docs/agents.md).
	"agents":         {"Agen", "Agents"},
	"agent":          {"Agen", "Agent"},
	"host":           {"Host", "Host"},
	"version":        {"Versi", "Version"},
	"last.heartbeat": {"Heartbeat terakhir", "Last heartbeat"},
	"running.runs":   {"Proses berjalan", "Running runs"},
	"up":             {"aktif", "up"},
	"down":           {"tidak aktif", "down"},

	"search":        {"Cari", "Search"},
	"filter":        {"Saring", "Filter"},
	"all":           {"semua", "all"},
	"page":          {"Halaman", "Page"},
	"of":            {"dari", "of"},
	"prev":          {"Sebelumnya", "Previous"},
	"next":          {"Berikutnya", "Next"},
	"snapshots":     {"Snapshot", "Snapshots"},
	"time":          {"Waktu", "Time"},
	"status":        {"Status", "Status"},
	"size":          {"Ukuran", "Size"},
	"runs":          {"Riwayat proses", "Runs"},
	"op":            {"Operasi", "Operation"},
	"reason":        {"Alasan", "Reason"},
	"duration":      {"Durasi", "Duration"},
	"error":         {"Kesalahan", "Error"},
	"backup.now":    {"Cadangkan sekarang", "Back up now"},
	"backup.queued": {"Pencadangan telah dimasukkan ke antrean sebagai proses", "The backup was queued as run"},
	"trend":         {"Tren RPO/RTO", "RPO/RTO trend"},
	"trend.rpo":     {"RPO: jarak antar snapshot baik (jam)", "RPO: gap between good snapshots (hours)"},
	"trend.rto":     {"RTO: durasi uji pemulihan (menit)", "RTO: drill duration (minutes)"},
	"trend.empty":   {"Belum ada data.", "No data yet."},
	"report":        {"Laporan", "Report"},
	"open.html":     {"Buka (HTML)", "Open (HTML)"},
	"download.pdf":  {"Unduh PDF", "Download PDF"},
	"drills.note":   {"Uji pemulihan di antara 1.000 proses terbaru.", "Drills among the newest 1,000 runs."},
	"no.drills":     {"Belum ada uji pemulihan.", "No drills yet."},
	"request":       {"Permohonan", "Request"},
	"requester":     {"Pemohon", "Requester"},
	"approve":       {"Setujui", "Approve"},
	"reject":        {"Tolak", "Reject"},
	"comment":       {"Catatan", "Comment"},
	"no.requests":   {"Tidak ada permohonan.", "No requests."},
	"principal":     {"Pelaku", "Principal"},
	"action":        {"Tindakan", "Action"},
	"object":        {"Objek", "Object"},
	"result":        {"Hasil", "Result"},
	"source":        {"Sumber", "Source"},
	"since":         {"Sejak", "Since"},
	"shown":         {"Ditampilkan", "Shown"},
	"forbidden":     {"Tidak diizinkan", "Forbidden"},
	"csrf":          {"Formulir ditolak: token CSRF tidak ada atau tidak sah. Muat ulang halaman lalu coba lagi.", "Form refused: its CSRF token is missing or wrong. Reload the page and try again."},
	"not.found":     {"Tidak ditemukan", "Not found"},
	"read.only":     {"Akses baca saja.", "Read-only access."},
	"language":      {"English", "Bahasa Indonesia"},
	"decided":       {"Keputusan dicatat untuk permohonan", "The decision was recorded for request"},
	"pending":       {"menunggu persetujuan", "pending"},
	// Run, snapshot and DRC states as the API names them.
	"succeeded":   {"berhasil", "succeeded"},
	"partial":     {"sebagian", "partial"},
	"interrupted": {"terputus", "interrupted"},
	"cancelled":   {"dibatalkan", "cancelled"},
	"good":        {"baik", "good"},
	"bad":         {"rusak", "bad"},
	"unreachable": {"tidak terjangkau", "unreachable"},
	"lagging":     {"tertinggal", "lagging"},
	"failing":     {"bermasalah", "failing"},
	"alarm":       {"alarm", "alarm"},
	"unknown":     {"tidak diketahui", "unknown"},
	"approved":    {"disetujui", "approved"},
	"rejected":    {"ditolak", "rejected"},
}

// word is key's text in lang.
func word(lang, key string) string {
	w, ok := words[key]
	if !ok {
		return key
	}
	if lang == langEN {
		return w[1]
	}
	return w[0]
}
