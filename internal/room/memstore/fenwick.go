package memstore

// fenwick is a binary indexed tree over join sequence numbers holding 1 for
// each WAITING session, so a position in line is a prefix sum and the head
// of the line a descent: O(log n) to read and to update, however long the
// line. It covers the window base+1 .. base+n of sequence numbers and slides
// forward once the lower half of the window is empty, so its size follows
// the span of tickets still waiting, not every ticket ever issued.
type fenwick struct {
	tree []int64 // tree[0] unused; len(tree)-1 is a power of two
	base int64
	// hi is the highest ticket ever added: the window never slides past
	// it, since the next ticket, above hi, must still fall inside.
	hi int64
}

// minSlide is the window size below which the tree never slides.
const minSlide = 1024

// add adds d at ticket i, growing or sliding the window as needed.
func (f *fenwick) add(i int64, d int64) {
	f.grow(i - f.base)
	f.hi = max(f.hi, i)
	n := int64(len(f.tree) - 1)
	for j := i - f.base; j <= n; j += j & -j {
		f.tree[j] += d
	}
	if d < 0 && n >= minSlide && f.base+n/2 <= f.hi && f.prefix(n/2) == 0 {
		f.slide()
	}
}

// sum returns the total of tickets up to i.
func (f *fenwick) sum(i int64) int64 { return f.prefix(i - f.base) }

// prefix returns the total of window indexes 1..j.
func (f *fenwick) prefix(j int64) int64 {
	if n := int64(len(f.tree) - 1); j > n {
		j = n
	}
	var s int64
	for ; j > 0; j -= j & -j {
		s += f.tree[j]
	}
	return s
}

// first returns the lowest ticket holding a value, or base+n+1 if none.
func (f *fenwick) first() int64 { return f.find(1) }

// find returns the lowest ticket whose prefix sum reaches k (the k-th
// WAITING session in line), or base+n+1 if there are fewer than k.
func (f *fenwick) find(k int64) int64 {
	n := int64(len(f.tree) - 1)
	pos := int64(0)
	for step := n; step > 0; step >>= 1 {
		if next := pos + step; next <= n && f.tree[next] < k {
			pos = next
			k -= f.tree[next]
		}
	}
	return f.base + pos + 1
}

// grow doubles the tree until it covers window index j. In a tree of size
// 2n whose upper half is all zero, every new node covers only new indexes
// except node 2n, which covers everything: it starts at the old total.
func (f *fenwick) grow(j int64) {
	if len(f.tree) == 0 {
		f.tree = make([]int64, 2, 64)
	}
	for n := int64(len(f.tree) - 1); j > n; n = int64(len(f.tree) - 1) {
		total := f.prefix(n)
		f.tree = append(f.tree, make([]int64, n)...)
		f.tree[2*n] = total
	}
}

// slide moves the window up by half its size; the lower half is empty.
func (f *fenwick) slide() {
	n := int64(len(f.tree) - 1)
	half := n / 2
	vals := make([]int64, half+1)
	for j := int64(1); j <= half; j++ {
		vals[j] = f.prefix(half+j) - f.prefix(half+j-1)
	}
	clear(f.tree)
	f.base += half
	for j := int64(1); j <= half; j++ {
		if v := vals[j]; v != 0 {
			for k := j; k <= n; k += k & -k {
				f.tree[k] += v
			}
		}
	}
}
