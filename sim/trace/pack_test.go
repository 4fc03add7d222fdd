package trace

import "testing"

// packShort must give the word a byte-by-byte packing gives, for every length it takes.
func TestPackShortEqualsBytewisePacking(t *testing.T) {
	for _, s := range []string{"", "a", "ab", "abc", "send", "timer", "deliver", "\xff\x00\x01\xfe\x80\x7f\x10"} {
		var want uint64
		for i := 0; i < len(s); i++ {
			want |= uint64(s[i]) << (8 * i)
		}
		if got := packShort(s); got != want {
			t.Errorf("packShort(%q) = %#x, want %#x", s, got, want)
		}
	}
}
