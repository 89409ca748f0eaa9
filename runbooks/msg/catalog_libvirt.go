package msg

// The libvirt kind's drill (targets/libvirt: drill.go, drill_live.go): restore the
// disks and define an isolated domain, check the images, compare a sample of blocks
// with the live disk, boot the domain, remove it. Kept apart from catalog.go so that
// the kind's texts are reviewed in one place.
var libvirtCatalog = map[string]entry{
	"libvirt.restore.title": {en: "Restore the disks and define an isolated domain (no network)", id: "Memulihkan disk dan mendefinisikan domain terisolasi (tanpa jaringan)"},
	"libvirt.restore.done":  {en: "{disks} {disks|disk|disks} restored to {dir}, domain {domain} defined", id: "{disks} disk telah dipulihkan ke {dir}, domain {domain} telah didefinisikan"},

	"libvirt.disks.title":     {en: "Check every restored disk image (qemu-img check)", id: "Memeriksa setiap citra disk hasil pemulihan (qemu-img check)"},
	"libvirt.disks.check":     {en: "qemu-img check of {file}", id: "pemeriksaan qemu-img check terhadap {file}"},
	"libvirt.disks.no_errors": {en: "no errors", id: "tidak ditemukan kesalahan"},
	"libvirt.disks.ok":        {en: "{n} {n|image|images} without errors", id: "{n} citra disk tanpa kesalahan"},
	"libvirt.disks.none":      {en: "no disk image was restored", id: "tidak ada citra disk yang dipulihkan"},

	"libvirt.live.title":      {en: "Compare a sample of blocks with the live disk", id: "Membandingkan sampel blok dengan disk yang sedang digunakan domain"},
	"libvirt.live.check":      {en: "live disk sample {disk}", id: "sampel blok disk aktif {disk}"},
	"libvirt.live.gone":       {en: "domain {domain} no longer exists: nothing to compare with", id: "domain {domain} sudah tidak ada: tidak ada pembanding"},
	"libvirt.live.other":      {en: "domain {domain} is another domain now (UUID {uuid}): nothing to compare with", id: "domain {domain} kini merupakan domain lain (UUID {uuid}): tidak ada pembanding"},
	"libvirt.live.no_disk":    {en: "{disk}: no longer a disk of the domain", id: "{disk}: bukan lagi disk milik domain tersebut"},
	"libvirt.live.unreadable": {en: "{disk}: not readable here ({err})", id: "{disk}: tidak dapat dibaca dari mesin ini ({err})"},
	"libvirt.live.resized":    {en: "{disk}: {now} bytes now, {then} in the snapshot: not compared", id: "{disk}: kini {now} bita, {then} bita dalam snapshot: tidak dibandingkan"},
	"libvirt.live.same":       {en: "{same} of {n} sampled blocks as in the snapshot", id: "{same} dari {n} blok sampel sesuai dengan snapshot"},
	"libvirt.live.wrong":      {en: "{base}; blocks {blocks} differ although nothing was written to the disk since the backup: the backup is wrong", id: "{base}; blok {blocks} berbeda padahal tidak ada data yang ditulis ke disk sejak pencadangan: hasil pencadangan salah"},
	"libvirt.live.written":    {en: "{base}; blocks {blocks} differ, and {written:bytes} were written to the disk since the backup", id: "{base}; blok {blocks} berbeda, dan {written:bytes} telah ditulis ke disk sejak pencadangan"},
	"libvirt.live.unknown":    {en: "{base}; blocks {blocks} differ (written since the backup? its checkpoint is gone, so libvirt cannot say)", id: "{base}; blok {blocks} berbeda (apakah ada penulisan sejak pencadangan? checkpoint pencadangan tersebut sudah tidak ada sehingga libvirt tidak dapat memastikannya)"},
	"libvirt.live.disk":       {en: "{disk}: {detail}", id: "{disk}: {detail}"},
	"libvirt.live.and":        {en: "{first}; {rest}", id: "{first}; {rest}"},
	"libvirt.live.failed":     {en: "{n|disk|disks} {disks} {n|differs|differ} from the live disk where nothing changed since the backup", id: "disk {disks} berbeda dari disk aktif padahal tidak ada perubahan sejak pencadangan"},

	"libvirt.boot.title":        {en: "Start the isolated domain; it must stay running", id: "Menyalakan domain terisolasi; domain harus tetap berjalan"},
	"libvirt.boot.starts":       {en: "domain starts", id: "domain dapat dinyalakan"},
	"libvirt.boot.start_failed": {en: "starting domain {domain}: {err}", id: "domain {domain} gagal dinyalakan: {err}"},
	"libvirt.boot.stays":        {en: "domain stays running for {seconds} s", id: "domain tetap berjalan selama {seconds} detik"},
	"libvirt.boot.running":      {en: "running", id: "berjalan"},
	"libvirt.boot.stopped":      {en: "{state} after {after:dur}", id: "{state} setelah {after:dur}"},
	"libvirt.boot.domain":       {en: "domain {domain}: {err}", id: "domain {domain}: {err}"},
	"libvirt.boot.ran":          {en: "running for {seconds} s", id: "berjalan selama {seconds} detik"},
	"libvirt.boot.no_channel":   {en: "{base}; no guest agent channel: not pinged", id: "{base}; domain tidak memiliki kanal guest agent: ping tidak dilakukan"},
	"libvirt.boot.agent_absent": {en: "{base}; the guest agent was not connected when the backup was made: not pinged", id: "{base}; guest agent tidak terhubung saat pencadangan dilakukan: ping tidak dilakukan"},
	"libvirt.boot.agent_ok":     {en: "{base}; the guest agent answered", id: "{base}; guest agent memberikan jawaban"},
	"libvirt.boot.agent":        {en: "guest agent answers (guest-ping)", id: "guest agent memberikan jawaban (guest-ping)"},
	"libvirt.boot.answered":     {en: "answered", id: "menjawab"},
	"libvirt.boot.agent_silent": {en: "domain {domain}: the guest agent did not answer within {wait:dur}: {err}", id: "domain {domain}: guest agent tidak memberikan jawaban dalam {wait:dur}: {err}"},
	"libvirt.state.running":     {en: "running", id: "berjalan"},
	"libvirt.state.blocked":     {en: "blocked", id: "terblokir"},
	"libvirt.state.paused":      {en: "paused", id: "dijeda"},
	"libvirt.state.shutting":    {en: "shutting down", id: "sedang dimatikan"},
	"libvirt.state.shutoff":     {en: "shut off", id: "mati"},
	"libvirt.state.crashed":     {en: "crashed", id: "mengalami kegagalan (crash)"},
	"libvirt.state.suspended":   {en: "suspended", id: "ditangguhkan (suspended)"},
	"libvirt.state.other":       {en: "state {n}", id: "keadaan {n}"},
	"libvirt.cleanup.title":     {en: "Destroy and undefine the domain, remove the disks", id: "Mematikan domain, menghapus definisinya, dan menghapus disk"},
	"libvirt.cleanup.done":      {en: "domain {domain} and {dir} removed", id: "domain {domain} dan {dir} telah dihapus"},
}

// init adds the kind's messages to the catalog; a key defined twice (here and in
// catalog.go, or by another kind) is a programming error.
func init() {
	for k, e := range libvirtCatalog {
		if _, dup := catalog[k]; dup {
			panic("msg: catalog key " + k + " is defined twice")
		}
		catalog[k] = e
	}
}
