package catalog

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketRegister is the register of document numbers: per series and year the last
// number given ("drill/2026" -> 7), and per document the number it got
// ("drill/run/42" -> {2026, 7}).
var bucketRegister = []byte("register")

// DocNumber is a document's place in the register: its sequence number in its year.
type DocNumber struct {
	Year int `json:"year"`
	Seq  int `json:"seq"`
}

// DocumentNumber returns the number of the document of run id in series (e.g.
// "drill"): the one it was given before, or the next of year, numbers starting at 1
// each year. A document keeps its number however often it is rendered.
func (c *Catalog) DocumentNumber(series string, id uint64, year int) (DocNumber, error) {
	var n DocNumber
	err := c.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketRegister)
		if err != nil {
			return err
		}
		docKey := []byte(fmt.Sprintf("%s/run/%d", series, id))
		if v := b.Get(docKey); v != nil {
			return json.Unmarshal(v, &n)
		}
		yearKey := []byte(fmt.Sprintf("%s/%d", series, year))
		last := 0
		if v := b.Get(yearKey); v != nil {
			if err := json.Unmarshal(v, &last); err != nil {
				return err
			}
		}
		n = DocNumber{Year: year, Seq: last + 1}
		if err := put(b, yearKey, n.Seq); err != nil {
			return err
		}
		return put(b, docKey, n)
	})
	return n, err
}
