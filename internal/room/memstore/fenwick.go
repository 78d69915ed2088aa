package memstore

// fenwick is a binary indexed tree over join sequence numbers 1..n holding 1
// for each WAITING session, so a position in line is a prefix sum: O(log n)
// to read and to update, however long the line.
type fenwick struct {
	tree []int64 // tree[0] unused; len(tree)-1 is a power of two
}

// add adds d at index i (1-based), growing the tree as needed.
func (f *fenwick) add(i int64, d int64) {
	f.grow(i)
	n := int64(len(f.tree) - 1)
	for ; i <= n; i += i & -i {
		f.tree[i] += d
	}
}

// sum returns the total of indexes 1..i.
func (f *fenwick) sum(i int64) int64 {
	if n := int64(len(f.tree) - 1); i > n {
		i = n
	}
	var s int64
	for ; i > 0; i -= i & -i {
		s += f.tree[i]
	}
	return s
}

// grow doubles the tree until it covers index i. In a tree of size 2n whose
// upper half is all zero, every new node covers only new indexes except node
// 2n, which covers everything: it starts at the old total.
func (f *fenwick) grow(i int64) {
	if len(f.tree) == 0 {
		f.tree = make([]int64, 2, 64)
	}
	for n := int64(len(f.tree) - 1); i > n; n = int64(len(f.tree) - 1) {
		total := f.sum(n)
		f.tree = append(f.tree, make([]int64, n)...)
		f.tree[2*n] = total
	}
}
