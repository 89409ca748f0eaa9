package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Requests are what an agency asks for through the network API that needs approval
// before it runs: a restore of its data, or an export of it out of the data center.
// A request names who must approve it (the agency's approval policy when it was made),
// collects the decisions, and once every approver has approved, names the run that
// carries it out. Requests are never deleted: they are the record of who allowed what.

var bucketRequests = []byte("requests") // id -> Request (JSON)

func migrateRequests(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketRequests)
	return err
}

// Request kinds.
const (
	RequestRestore = "restore"
	RequestExport  = "export"
)

// Request statuses. A pending request waits for decisions; approved means every
// approver approved and its run was queued (Run); rejected means one approver (or the
// requester, withdrawing it) said no; expired means nobody decided in time; failed
// means it was approved but its run could not be queued (Error says why).
const (
	RequestPending  = "pending"
	RequestApproved = "approved"
	RequestRejected = "rejected"
	RequestExpired  = "expired"
	RequestFailed   = "failed"
)

// Request is an agency's request as the catalog keeps it.
type Request struct {
	ID     uint64 `json:"id"`
	Kind   string `json:"kind"` // restore, export
	Agency string `json:"agency"`
	Target string `json:"target"`

	// Who asked, with what role, and the E-Layanan ticket it came with.
	Requester     string `json:"requester"`
	RequesterRole string `json:"requester_role"`
	Ticket        string `json:"ticket,omitempty"`

	// What is asked: the snapshot (its full id, pinned when the request was made, so
	// that the approvers approve one snapshot), at which DRC, and where it goes.
	Snapshot string            `json:"snapshot"`
	DRC      string            `json:"drc"`
	To       string            `json:"to,omitempty"`
	Force    bool              `json:"force,omitempty"`
	Include  []string          `json:"include,omitempty"`
	Options  map[string]string `json:"options,omitempty"`
	// Exports: the paths of the snapshot (none: all of it), the age public keys the
	// bundle is encrypted to, whether its link serves one download only, how long it
	// serves once the bundle is ready, and the bundle.
	Paths      []string      `json:"paths,omitempty"`
	Recipients []string      `json:"recipients,omitempty"`
	SingleUse  bool          `json:"single_use,omitempty"`
	Lifetime   time.Duration `json:"lifetime,omitempty"`
	Bundle     *Bundle       `json:"bundle,omitempty"`

	Created time.Time `json:"created"`
	// Expires is when a request still pending lapses.
	Expires time.Time `json:"expires"`
	// Approvers are the roles that must each approve (agency-admin, operator).
	Approvers []string   `json:"approvers"`
	Decisions []Decision `json:"decisions,omitempty"`

	Status  string    `json:"status"`
	Decided time.Time `json:"decided,omitzero"` // when it left pending
	Run     uint64    `json:"run,omitempty"`    // the run that carries it out
	Error   string    `json:"error,omitempty"`  // why it failed
}

// Bundle is an export's encrypted bundle, in the exports area of a DRC.
type Bundle struct {
	DRC        string     `json:"drc"`
	Object     string     `json:"object"` // its name in the DRC's store: _exports/<agency>/<request>.tar.zst.age
	Bytes      int64      `json:"bytes"`
	PlainBytes int64      `json:"plain_bytes"`
	Files      int        `json:"files"`
	SHA256     string     `json:"sha256"` // of the encrypted bytes
	Ready      time.Time  `json:"ready"`
	Expires    time.Time  `json:"expires"`
	Downloads  []Download `json:"downloads,omitempty"`
	// Deleted is when the bundle was removed from the DRC, and why (expired,
	// downloaded once: single use).
	Deleted    time.Time `json:"deleted,omitzero"`
	DeletedWhy string    `json:"deleted_why,omitempty"`
	// Serving counts downloads under way (a single-use bundle serves one at a time).
	Serving int `json:"serving,omitempty"`
}

// Download is one whole download of a bundle: the hand-over of the data.
type Download struct {
	Time   time.Time `json:"time"`
	By     string    `json:"by"`
	Role   string    `json:"role"`
	Source string    `json:"source,omitempty"`
}

// ExportsPrefix is the folder of a DRC's store that holds export bundles: no agency's
// repository can have its name (an agency id starts with a letter or a digit).
const ExportsPrefix = "_exports/"

// Decision is one approver's approval or rejection of a request.
type Decision struct {
	By      string    `json:"by"`
	Role    string    `json:"role"`
	Approve bool      `json:"approve"`
	Comment string    `json:"comment,omitempty"`
	Time    time.Time `json:"time"`
	Source  string    `json:"source,omitempty"`
}

// ErrNoRequest: no request has the id asked.
var ErrNoRequest = errors.New("no such request")

// AddRequest records a new request and sets its id.
func (c *Catalog) AddRequest(r *Request) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRequests)
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		r.ID = id
		return put(b, u64(id), r)
	})
}

// Request returns the request id.
func (c *Catalog) Request(id uint64) (Request, error) {
	var r Request
	err := c.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRequests).Get(u64(id))
		if v == nil {
			return fmt.Errorf("request %d: %w", id, ErrNoRequest)
		}
		return json.Unmarshal(v, &r)
	})
	return r, err
}

// Requests returns the requests for which keep says yes, newest first.
func (c *Catalog) Requests(keep func(Request) bool) ([]Request, error) {
	var out []Request
	err := c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketRequests).Cursor()
		for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
			var r Request
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("request %x: %w", k, err)
			}
			if keep == nil || keep(r) {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// UpdateRequest changes request id with change, in one transaction: two approvers
// deciding at once see each other's decision. An error from change leaves the request
// as it was and is returned.
func (c *Catalog) UpdateRequest(id uint64, change func(*Request) error) (Request, error) {
	var r Request
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRequests)
		v := b.Get(u64(id))
		if v == nil {
			return fmt.Errorf("request %d: %w", id, ErrNoRequest)
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if err := change(&r); err != nil {
			return err
		}
		return put(b, u64(id), &r)
	})
	return r, err
}
