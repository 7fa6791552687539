package main

func init() {
	registerGroup("retention", "drop old payloads and rows; pin sessions to keep them")
}
