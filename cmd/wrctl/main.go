// Command wrctl is a virtual waiting room on Amazon SQS: the server, the
// operator's setup tool, a scriptable client, a load tester and a dashboard.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
