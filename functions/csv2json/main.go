// Command csv2json is the object pipeline example (docs/triggers.md): an
// object trigger on bucket uploads (suffix .csv) hands it the event
// record {bucket, key, …}; it reads the CSV object, turns each row after
// the header into a JSON object keyed by the header's columns, and writes
// the array to bucket converted (env OUTPUT_BUCKET) under the same key
// with .json instead of .csv. Its spec must list both buckets:
//
//	buckets: [uploads, converted]
//
// It answers {"bucket":…,"key":…,"rows":N}.
package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/baton-run/baton/functions/sdk"
)

func init() { sdk.Handle(handle) }

func main() {}

// record is the part of the object event the function reads.
type record struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

type result struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Rows   int    `json:"rows"`
}

func handle(w sdk.ResponseWriter, e *sdk.Event) error {
	var r record
	if err := json.Unmarshal(e.Data, &r); err != nil || r.Bucket == "" || r.Key == "" {
		return errors.New("csv2json: the event is not an object record {bucket, key}")
	}
	src, err := sdk.GetObject(r.Bucket, r.Key)
	if err != nil {
		return err
	}
	out, rows, err := Convert(src)
	if err != nil {
		return fmt.Errorf("csv2json: %s/%s: %w", r.Bucket, r.Key, err)
	}
	dst := os.Getenv("OUTPUT_BUCKET")
	if dst == "" {
		dst = "converted"
	}
	key := strings.TrimSuffix(r.Key, ".csv") + ".json"
	if err := sdk.PutObject(dst, key, out, "application/json"); err != nil {
		return err
	}
	sdk.Info("converted", "from", r.Bucket+"/"+r.Key, "to", dst+"/"+key, "rows", rows)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(result{Bucket: dst, Key: key, Rows: rows})
}

// Convert turns CSV with a header row into a JSON array of objects, one
// per row, and returns the number of rows.
func Convert(src []byte) ([]byte, int, error) {
	rd := csv.NewReader(bytes.NewReader(src))
	rd.FieldsPerRecord = 0
	header, err := rd.Read()
	if err == io.EOF {
		return []byte("[]"), 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	rows := 0
	for {
		row, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if rows > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('{')
		for i, col := range header {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(col)
			v, _ := json.Marshal(row[i])
			buf.Write(k)
			buf.WriteByte(':')
			buf.Write(v)
		}
		buf.WriteByte('}')
		rows++
	}
	buf.WriteByte(']')
	return buf.Bytes(), rows, nil
}
