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
	"drill.snapshot.done_immutable": {en: "snapshot {id}, taken {age:dur} before the drill; its copy at DRC {drc} cannot be changed or deleted until at least {until} (S3 Object Lock, {mode} mode)",
		id: "snapshot {id}, dibuat {age:dur} sebelum uji; salinannya di DRC {drc} tidak dapat diubah atau dihapus sekurang-kurangnya hingga {until} (S3 Object Lock, mode {mode})"},
	"drill.packs.title":   {en: "Read back and verify the snapshot's pack files at the DRC", id: "Membaca ulang dan memverifikasi berkas pack snapshot di DRC"},
	"drill.packs.check":   {en: "pack files of the snapshot at DRC {drc} (SHA-256)", id: "berkas pack snapshot di DRC {drc} (SHA-256)"},
	"drill.packs.ok":      {en: "{packs} pack {packs|file|files}, {bytes:bytes} read, every one whole", id: "{packs} berkas pack, {bytes:bytes} dibaca, seluruhnya utuh"},
	"drill.restore.title": {en: "Restore", id: "Pemulihan"},
	"drill.no_drill":      {en: "kind {kind} has no drill", id: "jenis {kind} belum mendukung uji pemulihan"},
	"drill.scratch.title": {en: "Remove the drill's scratch folder", id: "Menghapus folder sementara uji"},
	"drill.scratch.done":  {en: "scratch folder removed", id: "folder sementara telah dihapus"},

	// The database kinds (targets/dbdump).
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

	// The database kinds: what a drill compares, manifests' notes, drill servers refused.
	"db.checks.first":   {en: "{sql}: {found}", id: "{sql}: {found}"},
	"db.objects.more":   {en: "{first}, {rest}", id: "{first}, {rest}"},
	"db.objects.differ": {en: "{kind}: {got} restored, {want} in the manifest", id: "{kind}: {got} dipulihkan, {want} dalam manifes"},
	"db.table.missing":  {en: "table {table} is missing", id: "tabel {table} tidak ditemukan"},
	"db.table.rows":     {en: "table {table} has {got} {got|row|rows}, want {want}", id: "tabel {table} berisi {got} baris, seharusnya {want}"},
	"db.table.checksum": {en: "table {table} has checksum {got}, want {want}", id: "checksum tabel {table} adalah {got}, seharusnya {want}"},
	"db.table.extra":    {en: "table {table} is not in the manifest", id: "tabel {table} tidak tercantum dalam manifes"},
	// Kinds of schema objects: counted ("2 views") and named ("views: ...").
	"db.count.tables":     {en: "{n} {n|table|tables}", id: "{n} tabel"},
	"db.count.views":      {en: "{n} {n|view|views}", id: "{n} tampilan (view)"},
	"db.count.sequences":  {en: "{n} {n|sequence|sequences}", id: "{n} sekuens (sequence)"},
	"db.count.functions":  {en: "{n} {n|function|functions}", id: "{n} fungsi"},
	"db.count.routines":   {en: "{n} {n|routine|routines}", id: "{n} rutin tersimpan (prosedur dan fungsi)"},
	"db.count.extensions": {en: "{n} {n|extension|extensions}", id: "{n} ekstensi"},
	"db.count.triggers":   {en: "{n} {n|trigger|triggers}", id: "{n} pemicu (trigger)"},
	"db.count.events":     {en: "{n} {n|event|events}", id: "{n} kejadian terjadwal (event)"},
	"db.kind.tables":      {en: "tables", id: "tabel"},
	"db.kind.views":       {en: "views", id: "tampilan (view)"},
	"db.kind.sequences":   {en: "sequences", id: "sekuens (sequence)"},
	"db.kind.functions":   {en: "functions", id: "fungsi"},
	"db.kind.routines":    {en: "routines", id: "rutin tersimpan (prosedur dan fungsi)"},
	"db.kind.extensions":  {en: "extensions", id: "ekstensi"},
	"db.kind.triggers":    {en: "triggers", id: "pemicu (trigger)"},
	"db.kind.events":      {en: "events", id: "kejadian terjadwal (event)"},
	// Notes of a manifest whose figures are not exact.
	"db.note.no_facts":     {en: "no table facts: {err}", id: "jumlah baris dan checksum tabel tidak tersedia: {err}"},
	"db.note.dump_options": {en: "dump_options choose what is dumped: tables they leave out are still listed here, and the dump's schema objects are not compared with the catalog", id: "dump_options menentukan isi dump: tabel yang dikecualikannya tetap tercantum di sini, dan objek skema dalam dump tidak dibandingkan dengan katalog server"},
	"db.note.own_snapshot": {en: "figures taken in a snapshot of their own just before the dump (BACKUP STAGE BLOCK_COMMIT: {err})", id: "angka diambil dari snapshot tersendiri sesaat sebelum dump (BACKUP STAGE BLOCK_COMMIT: {err})"},
	"db.note.late":         {en: "figures taken in a snapshot of their own: the dump did not start its transaction within {wait:dur}", id: "angka diambil dari snapshot tersendiri: dump tidak memulai transaksinya dalam {wait:dur}"},
	// The drill server must not be the production server.
	"db.drill.no_server":  {en: "no drill.server is set and drill.allow_production is false: a drill never restores on the production server unless allowed", id: "drill.server tidak ditetapkan dan drill.allow_production bernilai false: uji tidak pernah memulihkan ke server produksi tanpa izin"},
	"db.drill.not_scheme": {en: "drill.server {server} is not a {scheme}:// server", id: "drill.server {server} bukan server {scheme}://"},
	"db.drill.production": {en: "drill.server {server} is the target's own server ({why}): a drill never restores on production unless drill.allow_production is true", id: "drill.server {server} adalah server target itu sendiri ({why}): uji tidak pernah memulihkan ke server produksi kecuali drill.allow_production bernilai true"},
	"db.same.socket":      {en: "the same socket {socket}", id: "soket yang sama, {socket}"},
	"db.same.socket_file": {en: "{a} and {b} are the same socket", id: "{a} dan {b} adalah soket yang sama"},
	"db.same.host":        {en: "the same host and port {endpoint}", id: "host dan port yang sama, {endpoint}"},
	"db.same.resolve":     {en: "{a} and {b} both resolve to {ip}, port {port}", id: "{a} dan {b} sama-sama mengarah ke {ip}, port {port}"},
	"db.same.local":       {en: "{a} ({ipa}) and {b} ({ipb}) are both this machine, port {port}", id: "{a} ({ipa}) dan {b} ({ipb}) sama-sama mesin ini, port {port}"},
	"db.same.identity":    {en: "{a} and {b} answer as one server: {server}", id: "{a} dan {b} menjawab sebagai satu server: {server}"},
}
