package main

import (
	"testing"
	"time"
)

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{2202009, "2.1 MiB"}, {6 << 20, "6.0 MiB"}, {3 << 30, "3.0 GiB"}, {5 << 40, "5.0 TiB"},
	}
	for _, tt := range tests {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestFormatAge(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{0, "just now"}, {-time.Hour, "just now"}, {42 * time.Second, "42s ago"}, {5 * time.Minute, "5m ago"},
		{3 * time.Hour, "3h ago"}, {47 * time.Hour, "47h ago"}, {4 * 24 * time.Hour, "4d ago"},
		{30 * 24 * time.Hour, "2026-10-22"},
	}
	for _, tt := range tests {
		if got := formatAge(now, now.Add(-tt.ago), time.UTC); got != tt.want {
			t.Errorf("formatAge(%v ago) = %q, want %q", tt.ago, got, tt.want)
		}
	}
	if got := formatAge(now, time.Time{}, time.UTC); got != "-" {
		t.Errorf("formatAge(zero) = %q", got)
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"1048576", 1 << 20, false}, {"512KiB", 512 << 10, false}, {"6MiB", 6 << 20, false},
		{"6mib", 6 << 20, false}, {"1.5M", 3 << 19, false}, {"1GiB", 1 << 30, false},
		{"500KB", 500000, false}, {"6MB", 6000000, false}, {"6 MiB", 6 << 20, false}, {"10B", 10, false},
		{"", 0, true}, {"MiB", 0, true}, {"6 parsecs", 0, true}, {"1.2.3", 0, true},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
