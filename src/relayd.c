/*
 * relayd: main (placeholder while the core path is built).
 */
#include <stdio.h>

int
main(int argc, char **argv)
{
	fprintf(stderr, "relayd: not built yet\n");
	return 1;
}
