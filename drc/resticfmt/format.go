// Package resticfmt reads (and, for lock files, writes) restic's repository format as
// far as cadang's replication needs it: the master key behind a key file, encrypted
// files (index, snapshot, lock), tree blobs, and lock files that restic itself honours.
//
// cadang runs the restic binary for every repository operation; this package exists so
// that the replication between two DRCs can tell which pack files a snapshot needs
// without asking restic (which cannot answer that), and can take restic-compatible
// locks while it deletes. It follows restic's design document (doc/design.rst) and was
// checked against restic 0.18: AES-256-CTR with Poly1305-AES, scrypt key derivation,
// zstd compression in repository version 2.
//
// It is pure: bytes in, values out. It imports nothing of cadang. Key material never
// appears in an error or a String method.
package resticfmt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	//lint:ignore SA1019 restic's MAC is Poly1305-AES; x/crypto/poly1305 is what restic itself uses
	"golang.org/x/crypto/poly1305"
	"golang.org/x/crypto/scrypt"
)

const (
	ivSize  = aes.BlockSize
	macSize = poly1305.TagSize
	// Overhead is how many bytes encryption adds to a plaintext.
	Overhead = ivSize + macSize
)

// ErrUnauthenticated means a ciphertext failed its MAC check: a wrong key or damaged data.
var ErrUnauthenticated = errors.New("ciphertext verification failed")

// Key is a repository's master key (or a key derived from a password).
type Key struct {
	enc  [32]byte // AES-256
	macK [16]byte // AES-128 key of Poly1305-AES
	macR [16]byte // Poly1305 r
}

// String never shows key material.
func (k Key) String() string { return "resticfmt.Key(redacted)" }

// GoString never shows key material.
func (k Key) GoString() string { return k.String() }

type jsonKey struct {
	MAC struct {
		K []byte `json:"k"`
		R []byte `json:"r"`
	} `json:"mac"`
	Encrypt []byte `json:"encrypt"`
}

// keyFile is a file of keys/ in a repository.
type keyFile struct {
	KDF  string `json:"kdf"`
	N    int    `json:"N"`
	R    int    `json:"r"`
	P    int    `json:"p"`
	Salt []byte `json:"salt"`
	Data []byte `json:"data"`
}

// ErrWrongPassword means the password does not open the key file.
var ErrWrongPassword = errors.New("the password does not open this key")

// OpenKeyFile derives the user key from password with the key file's scrypt parameters
// and decrypts the repository's master key with it.
func OpenKeyFile(data []byte, password string) (*Key, error) {
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if kf.KDF != "scrypt" {
		return nil, fmt.Errorf("key file: unsupported kdf %q", kf.KDF)
	}
	if kf.N <= 1 || kf.N > 1<<24 || kf.R <= 0 || kf.P <= 0 || len(kf.Salt) == 0 {
		return nil, errors.New("key file: implausible scrypt parameters")
	}
	derived, err := scrypt.Key([]byte(password), kf.Salt, kf.N, kf.R, kf.P, 64)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	user := &Key{}
	copy(user.enc[:], derived[:32])
	copy(user.macK[:], derived[32:48])
	copy(user.macR[:], derived[48:64])
	plain, err := user.Open(kf.Data)
	if errors.Is(err, ErrUnauthenticated) {
		return nil, ErrWrongPassword
	}
	if err != nil {
		return nil, err
	}
	var jk jsonKey
	if err := json.Unmarshal(plain, &jk); err != nil {
		return nil, errors.New("key file: the master key does not decode")
	}
	if len(jk.Encrypt) != 32 || len(jk.MAC.K) != 16 || len(jk.MAC.R) != 16 {
		return nil, errors.New("key file: the master key has the wrong size")
	}
	master := &Key{}
	copy(master.enc[:], jk.Encrypt)
	copy(master.macK[:], jk.MAC.K)
	copy(master.macR[:], jk.MAC.R)
	return master, nil
}

func (k *Key) mac(msg, nonce []byte) [16]byte {
	var pk [32]byte
	c, err := aes.NewCipher(k.macK[:])
	if err != nil {
		panic(err) // a 16-byte key never fails
	}
	c.Encrypt(pk[16:], nonce)
	copy(pk[:16], k.macR[:])
	var out [16]byte
	poly1305.Sum(&out, msg, &pk)
	return out
}

// Open authenticates and decrypts IV || ciphertext || MAC.
func (k *Key) Open(data []byte) ([]byte, error) {
	if len(data) < Overhead {
		return nil, fmt.Errorf("%w: too short (%d bytes)", ErrUnauthenticated, len(data))
	}
	nonce, ct, tag := data[:ivSize], data[ivSize:len(data)-macSize], data[len(data)-macSize:]
	want := k.mac(ct, nonce)
	if subtle.ConstantTimeCompare(want[:], tag) != 1 {
		return nil, ErrUnauthenticated
	}
	block, err := aes.NewCipher(k.enc[:])
	if err != nil {
		panic(err)
	}
	out := make([]byte, len(ct))
	cipher.NewCTR(block, nonce).XORKeyStream(out, ct)
	return out, nil
}

// Seal encrypts plaintext with a fresh random IV and returns IV || ciphertext || MAC.
func (k *Key) Seal(plaintext []byte) []byte {
	out := make([]byte, ivSize+len(plaintext)+macSize)
	nonce := out[:ivSize]
	if _, err := rand.Read(nonce); err != nil {
		panic("resticfmt: no randomness: " + err.Error())
	}
	block, err := aes.NewCipher(k.enc[:])
	if err != nil {
		panic(err)
	}
	ct := out[ivSize : ivSize+len(plaintext)]
	cipher.NewCTR(block, nonce).XORKeyStream(ct, plaintext)
	tag := k.mac(ct, nonce)
	copy(out[ivSize+len(plaintext):], tag[:])
	return out
}

var (
	decoderOnce sync.Once
	decoder     *zstd.Decoder
)

func zstdDecoder() *zstd.Decoder {
	decoderOnce.Do(func() {
		var err error
		decoder, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			panic(err)
		}
	})
	return decoder
}

// DecryptFile opens an unpacked file (index, snapshot, lock): decrypts it and removes
// repository version 2's compression (a version byte 2, then zstd), if any.
func (k *Key) DecryptFile(data []byte) ([]byte, error) {
	plain, err := k.Open(data)
	if err != nil {
		return nil, err
	}
	if len(plain) == 0 || plain[0] == '{' || plain[0] == '[' {
		return plain, nil
	}
	if plain[0] != 2 {
		return nil, fmt.Errorf("unknown file encoding %d", plain[0])
	}
	return zstdDecoder().DecodeAll(plain[1:], nil)
}

// DecryptBlob opens a blob cut from a pack file; uncompressedLength is the index's
// uncompressed_length (0 for a blob stored without compression).
func (k *Key) DecryptBlob(data []byte, uncompressedLength uint) ([]byte, error) {
	plain, err := k.Open(data)
	if err != nil {
		return nil, err
	}
	if uncompressedLength == 0 {
		return plain, nil
	}
	out, err := zstdDecoder().DecodeAll(plain, make([]byte, 0, uncompressedLength))
	if err != nil {
		return nil, fmt.Errorf("blob decompression: %w", err)
	}
	return out, nil
}

// ID is a restic id: the SHA-256 of a file's or blob's content.
type ID [32]byte

// ParseID parses a 64-digit hex id.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("invalid id %q", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("invalid id %q", s)
	}
	return id, nil
}

// Hash returns the id of data.
func Hash(data []byte) ID { return sha256.Sum256(data) }

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// MarshalJSON writes the id as hex.
func (id ID) MarshalJSON() ([]byte, error) { return json.Marshal(id.String()) }

// UnmarshalJSON reads a hex id.
func (id *ID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseID(s)
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// IndexBlob is one blob of an index file.
type IndexBlob struct {
	ID                 ID     `json:"id"`
	Type               string `json:"type"` // data or tree
	Offset             uint   `json:"offset"`
	Length             uint   `json:"length"`
	UncompressedLength uint   `json:"uncompressed_length,omitempty"`
}

// IndexPack is one pack file of an index file with the blobs it holds.
type IndexPack struct {
	ID    ID          `json:"id"`
	Blobs []IndexBlob `json:"blobs"`
}

// Index is a decoded index file.
type Index struct {
	Packs []IndexPack `json:"packs"`
}

// ParseIndex decodes a decrypted index file.
func ParseIndex(plain []byte) (*Index, error) {
	var idx Index
	if err := json.Unmarshal(plain, &idx); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	return &idx, nil
}

// Snapshot is a decoded snapshot file (the fields cadang reads).
type Snapshot struct {
	Time     time.Time       `json:"time"`
	Tree     *ID             `json:"tree"`
	Paths    []string        `json:"paths"`
	Hostname string          `json:"hostname,omitempty"`
	Tags     []string        `json:"tags,omitempty"`
	Summary  json.RawMessage `json:"summary,omitempty"`
}

// ParseSnapshot decodes a decrypted snapshot file.
func ParseSnapshot(plain []byte) (*Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(plain, &s); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if s.Tree == nil {
		return nil, errors.New("snapshot: no tree")
	}
	return &s, nil
}

// Node is the part of a tree node that says which blobs it needs.
type Node struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Content []ID   `json:"content"`
	Subtree *ID    `json:"subtree,omitempty"`
}

// Tree is a decoded tree blob.
type Tree struct {
	Nodes []Node `json:"nodes"`
}

// ParseTree decodes a decrypted tree blob.
func ParseTree(plain []byte) (*Tree, error) {
	var t Tree
	if err := json.Unmarshal(plain, &t); err != nil {
		return nil, fmt.Errorf("tree: %w", err)
	}
	return &t, nil
}

// Lock is a file of locks/ as restic writes and reads it.
type Lock struct {
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	Hostname  string    `json:"hostname"`
	Username  string    `json:"username"`
	PID       int       `json:"pid"`
	UID       uint32    `json:"uid,omitempty"`
	GID       uint32    `json:"gid,omitempty"`
}

// StaleLockAge is how old a lock may be before restic ignores it (its
// StaleLockTimeout); a lock that is held longer must be refreshed before then.
const StaleLockAge = 30 * time.Minute

// EncodeLock encrypts a lock file; its name in locks/ is the Hash of the result.
func (k *Key) EncodeLock(l Lock) ([]byte, ID) {
	plain, err := json.Marshal(l)
	if err != nil {
		panic(err) // a Lock always encodes
	}
	data := k.Seal(plain)
	return data, Hash(data)
}

// DecodeLock decrypts and decodes a lock file.
func (k *Key) DecodeLock(data []byte) (*Lock, error) {
	plain, err := k.DecryptFile(data)
	if err != nil {
		return nil, err
	}
	var l Lock
	if err := json.NewDecoder(bytes.NewReader(plain)).Decode(&l); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return &l, nil
}
