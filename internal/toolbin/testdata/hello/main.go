// Command hello prints the version stamped into it, for toolbin's tests.
package main

import "fmt"

var version = "unset"

func main() { fmt.Println("hello", version) }
