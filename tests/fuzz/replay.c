/*
 * replay: a main() for a libFuzzer target, built with the project's own compiler, that
 * feeds it every seed in its directory (FUZZ_SEEDS, given at build time) once. `make
 * test-unit` runs each target this way, so a target that no longer builds or a seed
 * that crashes (abort() in a target's own checks) fails the tests, without clang or a
 * fuzzing run. The closing line has the unit tests' form, which tests/run-unit.sh counts.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
main(void)
{
	DIR *d = opendir(FUZZ_SEEDS);
	struct dirent *e;
	int n = 0;

	if (d == NULL) {
		printf("%s: no seeds: 0 passed, 1 failed\n", FUZZ_SEEDS);
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		char path[4096], *buf;
		FILE *f;
		long len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", FUZZ_SEEDS, e->d_name);
		if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 ||
		    (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
			printf("%s: cannot read: 0 passed, 1 failed\n", path);
			return 1;
		}
		buf = malloc((size_t)len + 1);
		if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
			printf("%s: cannot read: 0 passed, 1 failed\n", path);
			return 1;
		}
		fclose(f);
		LLVMFuzzerTestOneInput((const uint8_t *)buf, (size_t)len);
		free(buf);
		n++;
	}
	closedir(d);
	printf("%s: %d passed, 0 failed\n", FUZZ_SEEDS, n);
	return n > 0 ? 0 : 1;
}
