package msg

// entry is one message in both languages. Placeholders: {name}, {name:bytes},
// {name:dur}, and in English {name|one|other} for the plural of a count.
type entry struct{ en, id string }

// catalog is every message cadang writes into reports. Indonesian is formal
// (Berita Acara); English is for readers who do not read Bahasa Indonesia.
var catalog = map[string]entry{
	// A kind's own text in both languages (kinds whose texts are not in the catalog yet).
	"bilingual": {en: "{en}", id: "{id}"},

	// The executor.
	"step.timeout":   {en: "exceeded its time limit of {limit:dur}: {err}", id: "melampaui batas waktu {limit:dur}: {err}"},
	"step.panic":     {en: "the step panicked: {err}", id: "langkah terhenti karena kesalahan program: {err}"},
	"step.no_action": {en: "the step has no action", id: "langkah tidak memiliki tindakan"},

	// Reports.
	"report.summary": {en: "{n} {n|drill|drills} performed: {passed} passed, {failed} failed.", id: "{n} uji dilaksanakan: {passed} lulus, {failed} gagal."},

	// The engine's steps of every drill.
	"drill.snapshot.title": {en: "Choose the newest good snapshot at the DRC", id: "Memilih snapshot terbaru yang baik di DRC"},
	"drill.snapshot.done":  {en: "snapshot {id}, taken {age:dur} before the drill", id: "snapshot {id}, dibuat {age:dur} sebelum uji"},
	"drill.packs.title":    {en: "Read back and verify the snapshot's pack files at the DRC", id: "Membaca ulang dan memverifikasi berkas pack snapshot di DRC"},
	"drill.packs.check":    {en: "pack files of the snapshot at DRC {drc} (SHA-256)", id: "berkas pack snapshot di DRC {drc} (SHA-256)"},
	"drill.packs.ok":       {en: "{packs} pack {packs|file|files}, {bytes:bytes} read, every one whole", id: "{packs} berkas pack, {bytes:bytes} dibaca, seluruhnya utuh"},
	"drill.restore.title":  {en: "Restore", id: "Pemulihan"},
	"drill.no_drill":       {en: "kind {kind} has no drill", id: "jenis {kind} belum mendukung uji pemulihan"},
	"drill.scratch.title":  {en: "Remove the drill's scratch folder", id: "Menghapus folder sementara uji"},
	"drill.scratch.done":   {en: "scratch folder removed", id: "folder sementara telah dihapus"},

	// The files kind.
	"db.restore.title":        {en: "Restore the dump into a scratch database", id: "Memulihkan dump ke basis data sementara"},
	"db.restore.done":         {en: "database {db} restored ({bytes:bytes} of dump)", id: "basis data {db} telah dipulihkan ({bytes:bytes} dump)"},
	"db.restore.whole_server": {en: "the snapshot holds a whole server (all: true): drills restore one database at a time; drill a target of one database", id: "snapshot berisi seluruh server (all: true): uji memulihkan satu basis data setiap kali; ujilah target dengan satu basis data"},
	"db.manifest.title":       {en: "Compare tables with the manifest recorded at backup", id: "Membandingkan tabel dengan manifes saat pencadangan"},
	"db.manifest.check":       {en: "tables against the manifest recorded at backup (rows, checksums)", id: "tabel terhadap manifes saat pencadangan (jumlah baris, checksum)"},
	"db.manifest.none":        {en: "no manifest was recorded for this snapshot: not compared", id: "tidak ada manifes yang tercatat untuk snapshot ini: tidak dibandingkan"},
	"db.manifest.not_found":   {en: "the scratch database {db} was not found after the restore", id: "basis data sementara {db} tidak ditemukan setelah pemulihan"},
	"db.manifest.ok":          {en: "{tables} {tables|table|tables}, {rows} {rows|row|rows}, identical to the manifest", id: "{tables} tabel, {rows} baris, identik dengan manifes"},
	"db.manifest.objects":     {en: "{base}; schema objects as recorded: {objects}", id: "{base}; objek skema sesuai catatan: {objects}"},
	"db.manifest.inexact":     {en: "{base} (the manifest is not exact: {note})", id: "{base} (manifes tidak eksak: {note})"},
	"db.manifest.differ":      {en: "{n} {n|difference|differences} from the manifest, first: {first}", id: "{n} perbedaan dengan manifes, yang pertama: {first}"},
	"db.checks.title":         {en: "Run the target's own drill checks", id: "Menjalankan pemeriksaan uji milik target"},
	"db.checks.none":          {en: "no drill.checks configured", id: "tidak ada drill.checks yang dikonfigurasi"},
	"db.checks.check":         {en: "check: {sql}", id: "pemeriksaan: {sql}"},
	"db.checks.true":          {en: "true", id: "benar (true)"},
	"db.checks.not_true":      {en: "returned {got}, not true", id: "menghasilkan {got}, bukan true"},
	"db.checks.ok":            {en: "{n} {n|check|checks} returned true", id: "{n} pemeriksaan menghasilkan true"},
	"db.checks.failed":        {en: "{failed} of {n} checks failed, first: {first}", id: "{failed} dari {n} pemeriksaan gagal, yang pertama: {first}"},
	"db.cleanup.title":        {en: "Drop the scratch database", id: "Menghapus basis data sementara"},
	"db.cleanup.nothing":      {en: "nothing to drop", id: "tidak ada yang perlu dihapus"},
	"db.cleanup.done":         {en: "dropped {db}", id: "basis data {db} telah dihapus"},
	"files.restore.title":     {en: "Restore the snapshot into a scratch folder", id: "Memulihkan snapshot ke folder sementara"},
	"files.restore.done":      {en: "{files} {files|file|files}, {bytes:bytes} restored", id: "{files} berkas, {bytes:bytes} dipulihkan"},
	"files.listing.title":     {en: "Compare the restored files with the snapshot's listing", id: "Membandingkan berkas hasil pemulihan dengan daftar isi snapshot"},
	"files.listing.check":     {en: "file count and sizes against the snapshot's listing", id: "jumlah dan ukuran berkas terhadap daftar isi snapshot"},
	"files.listing.ok":        {en: "{files} {files|file|files}, {bytes:bytes}, as listed", id: "{files} berkas, {bytes:bytes}, sesuai daftar isi"},
	"files.listing.differ":    {en: "{n} of {files} files differ from the listing, first: {first}", id: "{n} dari {files} berkas tidak sesuai dengan daftar isi, yang pertama: {first}"},
	"files.problem.missing":   {en: "{path}: not restored", id: "{path}: tidak dipulihkan"},
	"files.problem.type":      {en: "{path}: restored as {type}, listed as a file", id: "{path}: dipulihkan sebagai {type}, terdaftar sebagai berkas"},
	"files.problem.size":      {en: "{path}: {got} bytes restored, {want} listed", id: "{path}: {got} bita dipulihkan, {want} bita terdaftar"},
	"files.problem.extra":     {en: "{path}: restored but not in the snapshot", id: "{path}: dipulihkan tetapi tidak terdapat dalam snapshot"},
	"files.problem.hash":      {en: "{path}: SHA-256 {got}… restored, {want}… at backup", id: "{path}: SHA-256 hasil pemulihan {got}…, saat pencadangan {want}…"},
	"files.problem.read":      {en: "{path}: {err}", id: "{path}: {err}"},
	"files.sample.title":      {en: "Compare sampled file contents with the source at backup time", id: "Membandingkan isi berkas sampel dengan sumber saat pencadangan"},
	"files.sample.check":      {en: "content of files sampled at backup time (SHA-256)", id: "isi berkas sampel saat pencadangan (SHA-256)"},
	"files.sample.none":       {en: "no sample was recorded at backup (a snapshot older than drills, or an empty source): not compared", id: "tidak ada sampel yang tercatat saat pencadangan (snapshot dibuat sebelum fitur uji tersedia, atau sumbernya kosong): tidak dibandingkan"},
	"files.sample.ok":         {en: "{same} of {n} sampled files identical to the source at backup", id: "{same} dari {n} berkas sampel identik dengan sumber saat pencadangan"},
	"files.sample.changed":    {en: "{same} of {n} sampled files identical to the source at backup ({changed} changed while the backup ran: not comparable)", id: "{same} dari {n} berkas sampel identik dengan sumber saat pencadangan ({changed} berubah selama pencadangan berjalan: tidak dapat dibandingkan)"},
	"files.sample.differ":     {en: "{bad} of {n} sampled files differ from the source at backup, first: {first}", id: "{bad} dari {n} berkas sampel berbeda dari sumber saat pencadangan, yang pertama: {first}"},
	"files.cleanup.title":     {en: "Remove the scratch folder", id: "Menghapus folder sementara"},
	"files.cleanup.done":      {en: "removed {dir}", id: "{dir} telah dihapus"},
}
