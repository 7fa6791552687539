package host

// OpenMonths returns the number of month files m holds open.
func (m *MonthlyRollover) OpenMonths() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.stores)
}
