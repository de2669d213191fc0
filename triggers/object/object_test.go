package objecttrigger

import (
	"errors"
	"testing"
	"time"

	"github.com/baton-run/baton/triggers"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name      string
		spec      triggers.Spec
		wantField string
	}{
		{"ok", triggers.Spec{Bucket: "uploads"}, ""},
		{"all fields", triggers.Spec{Bucket: "my.bucket-1", Events: []string{"created", "removed"}, Prefix: "in/", Suffix: ".csv", Mode: "listen"}, ""},
		{"no bucket", triggers.Spec{}, "bucket"},
		{"bad bucket", triggers.Spec{Bucket: "Uploads"}, "bucket"},
		{"short bucket", triggers.Spec{Bucket: "ab"}, "bucket"},
		{"bucket ends with dot", triggers.Spec{Bucket: "abc."}, "bucket"},
		{"bad event", triggers.Spec{Bucket: "uploads", Events: []string{"updated"}}, "events"},
		{"bad mode", triggers.Spec{Bucket: "uploads", Mode: "poll"}, "mode"},
		{"other kind's field", triggers.Spec{Bucket: "uploads", Subject: "a.b"}, "subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Kind, tt.spec.Function = Kind, "f"
			_, err := newTrigger(tt.spec)
			var fe *triggers.FieldError
			switch {
			case tt.wantField == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantField != "" && (!errors.As(err, &fe) || fe.Field != tt.wantField):
				t.Fatalf("err = %v, want a FieldError on %s", err, tt.wantField)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	created := Record{Bucket: "uploads", Key: "in/a.csv", EventName: "s3:ObjectCreated:Put"}
	removed := Record{Bucket: "uploads", Key: "in/a.csv", EventName: "s3:ObjectRemoved:Delete"}
	tests := []struct {
		name string
		spec triggers.Spec
		r    Record
		want bool
	}{
		{"bucket only", triggers.Spec{Bucket: "uploads"}, created, true},
		{"other bucket", triggers.Spec{Bucket: "other"}, created, false},
		{"prefix", triggers.Spec{Bucket: "uploads", Prefix: "in/"}, created, true},
		{"wrong prefix", triggers.Spec{Bucket: "uploads", Prefix: "out/"}, created, false},
		{"suffix", triggers.Spec{Bucket: "uploads", Suffix: ".csv"}, created, true},
		{"wrong suffix", triggers.Spec{Bucket: "uploads", Suffix: ".json"}, created, false},
		{"removed by default: no", triggers.Spec{Bucket: "uploads"}, removed, false},
		{"removed asked", triggers.Spec{Bucket: "uploads", Events: []string{"removed"}}, removed, true},
		{"created not asked", triggers.Spec{Bucket: "uploads", Events: []string{"removed"}}, created, false},
		{"both", triggers.Spec{Bucket: "uploads", Events: []string{"created", "removed"}}, removed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.spec, tt.r); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseRecords(t *testing.T) {
	// As MinIO publishes it (trimmed).
	msg := `{"EventName":"s3:ObjectCreated:Put","Key":"uploads/in/a b.csv","Records":[{"eventVersion":"2.0",` +
		`"eventSource":"minio:s3","eventTime":"2026-11-22T00:18:40.123Z","eventName":"s3:ObjectCreated:Put",` +
		`"s3":{"bucket":{"name":"uploads"},"object":{"key":"in%2Fa+b.csv","size":16,"eTag":"abc"}}}]}`
	recs, err := ParseRecords([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	want := Record{Bucket: "uploads", Key: "in/a b.csv", Size: 16, ETag: "abc", EventName: "s3:ObjectCreated:Put",
		Time: time.Date(2026, 11, 22, 0, 18, 40, 123e6, time.UTC)}
	if len(recs) != 1 || recs[0] != want {
		t.Fatalf("records = %+v, want %+v", recs, want)
	}
	if _, err := ParseRecords([]byte("not json")); err == nil {
		t.Fatal("no error for a message that is not JSON")
	}
}

func TestKeepSetup(t *testing.T) {
	old := triggers.Spec{ID: "t", Kind: Kind, Function: "f", Bucket: "b"}
	tests := []struct {
		name   string
		stored *triggers.Spec
		want   bool
	}{
		{"deleted", nil, false},
		{"replaced on the same bucket", &triggers.Spec{ID: "t", Kind: Kind, Function: "g", Bucket: "b", Suffix: ".csv"}, true},
		{"replaced, mode nats said", &triggers.Spec{ID: "t", Kind: Kind, Function: "f", Bucket: "b", Mode: ModeNATS}, true},
		{"replaced on another bucket", &triggers.Spec{ID: "t", Kind: Kind, Function: "f", Bucket: "c"}, false},
		{"replaced by mode listen", &triggers.Spec{ID: "t", Kind: Kind, Function: "f", Bucket: "b", Mode: ModeListen}, false},
		{"replaced by another kind", &triggers.Spec{ID: "t", Kind: "nats", Function: "f", Subject: "b"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keepSetup(old, tt.stored); got != tt.want {
				t.Fatalf("keepSetup = %v, want %v", got, tt.want)
			}
		})
	}
}
