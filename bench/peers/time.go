package peers

import "time"

func unixTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }
