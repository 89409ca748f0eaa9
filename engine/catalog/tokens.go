package catalog

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// API tokens: the bearer secrets that principals other than the unix socket's peer
// (the network listener's clients: auditors, agencies, the E-Layanan portal) present.
//
// A token's secret is shown once, when it is created, and never stored: the catalog
// keeps its SHA-256 only, under the token's name and in an index from that hash to the
// name, so that a presented secret is found in one lookup. A secret is 32 random bytes,
// so a plain (unsalted) hash is enough: nobody can guess their way back to it.
//
// A token is never deleted, only revoked, and its name is never given to another: the
// audit log names principals by it.

var (
	bucketTokens     = []byte("tokens")       // name -> Token (JSON)
	bucketTokenIndex = []byte("token_hashes") // hex SHA-256 of the secret -> name
)

func migrateTokens(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketTokens, bucketTokenIndex} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// The roles a token may carry.
const (
	RoleOperator        = "operator"         // everything
	RoleAuditor         = "auditor"          // reads everything, reports and the audit log included; never data
	RoleAgencyAdmin     = "agency-admin"     // its agency's everything, approvals included
	RoleAgencyRequester = "agency-requester" // its agency's backups and restore requests
	RoleAgencyViewer    = "agency-viewer"    // reads its agency's records
	RolePortal          = "portal"           // a service that acts for the agency each request names
)

// Roles lists every role, in the order the documentation gives them.
var Roles = []string{RoleOperator, RoleAuditor, RoleAgencyAdmin, RoleAgencyRequester, RoleAgencyViewer, RolePortal}

// AgencyRole reports whether role acts for one agency (and a token of it must name it).
func AgencyRole(role string) bool {
	return role == RoleAgencyAdmin || role == RoleAgencyRequester || role == RoleAgencyViewer
}

// TokenPrefix starts every secret: it tells a cadang token from other secrets (in a
// log, in a secret scanner's rules).
const TokenPrefix = "cdg_"

// Errors of the tokens.
var (
	// ErrTokenUnknown: no token has the secret presented.
	ErrTokenUnknown = errors.New("unknown token")
	// ErrTokenRevoked: the secret's token was revoked.
	ErrTokenRevoked = errors.New("token revoked")
	// ErrTokenExpired: the secret's token has expired.
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenExists: a token (maybe revoked) has the name already; names are never reused.
	ErrTokenExists = errors.New("a token has this name already (names are never reused)")
	// ErrTokenInvalid (wrapped): a token cannot be created as asked (its name, role, agency or expiry).
	ErrTokenInvalid = errors.New("invalid token")
)

// Token is an API token as the catalog keeps it: never its secret.
type Token struct {
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	Agency   string    `json:"agency,omitempty"` // for the agency-* roles only
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	Revoked  time.Time `json:"revoked,omitzero"`
	LastUsed time.Time `json:"last_used,omitzero"` // updated at most once a minute
	Hash     string    `json:"hash"`               // hex SHA-256 of the secret
}

// Status is "active", "revoked" or "expired" at now.
func (t Token) Status(now time.Time) string {
	switch {
	case !t.Revoked.IsZero():
		return "revoked"
	case !now.Before(t.Expires):
		return "expired"
	}
	return "active"
}

// lastUsedEvery is how often LastUsed is written at most: not once a request.
const lastUsedEvery = time.Minute

// tokenHash is the hex SHA-256 of a secret.
func tokenHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// ValidTokenName checks a token's name: 1 to 64 characters of a-z, 0-9, '.', '_', '-'.
func ValidTokenName(name string) error {
	ok := len(name) >= 1 && len(name) <= 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%w: name %q: use 1 to 64 characters of a-z, 0-9, '.', '_' and '-'", ErrTokenInvalid, name)
	}
	return nil
}

// validRole checks role, and that agency is given exactly when the role needs one.
func validRole(role, agency string) error {
	known := false
	for _, r := range Roles {
		known = known || r == role
	}
	switch {
	case !known:
		return fmt.Errorf("%w: role %q (one of operator, auditor, agency-admin, agency-requester, agency-viewer, portal)", ErrTokenInvalid, role)
	case AgencyRole(role) && agency == "":
		return fmt.Errorf("%w: role %s acts for one agency: name it", ErrTokenInvalid, role)
	case !AgencyRole(role) && agency != "":
		if role == RolePortal {
			return fmt.Errorf("%w: role portal acts for the agency each request names: give no agency", ErrTokenInvalid)
		}
		return fmt.Errorf("%w: role %s is the data center's own: give no agency", ErrTokenInvalid, role)
	}
	return nil
}

// CreateToken makes a token named name for role (and agency, for the agency-* roles),
// valid from at until expires. It returns the secret, which is not stored and cannot
// be had again, and the token as stored.
func (c *Catalog) CreateToken(name, role, agency string, expires time.Time, at time.Time) (secret string, t Token, err error) {
	if err := ValidTokenName(name); err != nil {
		return "", Token{}, err
	}
	if err := validRole(role, agency); err != nil {
		return "", Token{}, err
	}
	if !expires.After(at) {
		return "", Token{}, fmt.Errorf("%w: it would expire at once", ErrTokenInvalid)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Token{}, fmt.Errorf("token secret: %w", err)
	}
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	t = Token{Name: name, Role: role, Agency: agency, Created: at.Round(0), Expires: expires.Round(0), Hash: tokenHash(secret)}
	err = c.db.Update(func(tx *bolt.Tx) error {
		b, idx := tx.Bucket(bucketTokens), tx.Bucket(bucketTokenIndex)
		if b.Get([]byte(name)) != nil {
			return fmt.Errorf("token %q: %w", name, ErrTokenExists)
		}
		if idx.Get([]byte(t.Hash)) != nil { // 2^-256: a broken random source
			return errors.New("token secret: the random source repeats itself")
		}
		if err := put(b, []byte(name), t); err != nil {
			return err
		}
		return idx.Put([]byte(t.Hash), []byte(name))
	})
	if err != nil {
		return "", Token{}, err
	}
	return secret, t, nil
}

// Tokens returns every token, revoked and expired ones too, sorted by name.
func (c *Catalog) Tokens() ([]Token, error) {
	out := []Token{}
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			var t Token
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("token %q: %w", k, err)
			}
			out = append(out, t)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// RevokeToken revokes the token named name at at: its secret is refused from then on.
// Revoking a revoked token changes nothing.
func (c *Catalog) RevokeToken(name string, at time.Time) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		v := b.Get([]byte(name))
		if v == nil {
			return fmt.Errorf("token %q: %w", name, ErrNotFound)
		}
		var t Token
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("token %q: %w", name, err)
		}
		if !t.Revoked.IsZero() {
			return nil
		}
		t.Revoked = at.Round(0)
		return put(b, []byte(name), t)
	})
}

// TokenBySecret returns the token whose secret was presented, if it may be used at
// now: else ErrTokenUnknown, ErrTokenRevoked or ErrTokenExpired. It records the use
// (LastUsed), at most once a minute.
func (c *Catalog) TokenBySecret(secret string, now time.Time) (Token, error) {
	hash := tokenHash(secret)
	var t Token
	found := false
	err := c.db.View(func(tx *bolt.Tx) error {
		name := tx.Bucket(bucketTokenIndex).Get([]byte(hash))
		if name == nil {
			return nil
		}
		v := tx.Bucket(bucketTokens).Get(name)
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("token %q: %w", name, err)
		}
		found = true
		return nil
	})
	if err != nil {
		return Token{}, err
	}
	// The index found it by its hash; compare the whole hash again, in constant time.
	if !found || subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) != 1 {
		return Token{}, ErrTokenUnknown
	}
	switch t.Status(now) {
	case "revoked":
		return Token{}, fmt.Errorf("token %q: %w", t.Name, ErrTokenRevoked)
	case "expired":
		return Token{}, fmt.Errorf("token %q: %w", t.Name, ErrTokenExpired)
	}
	if now.Sub(t.LastUsed) < lastUsedEvery {
		return t, nil
	}
	t.LastUsed = now.Round(0)
	err = c.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		var cur Token
		v := b.Get([]byte(t.Name))
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &cur); err != nil {
			return fmt.Errorf("token %q: %w", t.Name, err)
		}
		if !cur.LastUsed.Before(t.LastUsed) {
			return nil // a request at the same time wrote it
		}
		cur.LastUsed = t.LastUsed
		return put(b, []byte(t.Name), cur)
	})
	if err != nil {
		return Token{}, err
	}
	return t, nil
}
