/*
 * vmm-flush: what a VMM does with `flushctl plan --json` for passthrough, in one page.
 *
 *   flushctl plan /dev/dax0.0 --json > plan.json
 *   vmm-flush plan.json            (or: flushctl plan ... --json | vmm-flush -)
 *
 * It maps every range of the plan (one 4 KiB page of /dev/mem each) and flushes once the way
 * Linux's nvdimm_flush() does: a store fence, one 8-byte store of 1 to one flush hint of each
 * DIMM of the region (DIMMs whose first hint is the same address are written once), a store
 * fence. A real VMM keeps the mappings and places them in the guest's physical address space
 * instead (docs/vmm-integration.md); the guest's own nvdimm_flush() then does the writes.
 *
 * Build: cc -O2 -Wall -o vmm-flush vmm-flush.c $(pkg-config --cflags --libs json-c)
 * Needs root (CAP_SYS_RAWIO) and a host booted with iomem=relaxed (flushctl check says why).
 * Exit status: 0 flushed, 1 the plan is not passthrough (nothing written), 2 error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_DIMMS 64

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "vmm-flush: %s: %s\n", what, detail);
	exit(2);
}

/* A member that must be there, of the given type. */
static struct json_object *member(struct json_object *obj, const char *key, enum json_type type)
{
	struct json_object *value;

	if (!json_object_object_get_ex(obj, key, &value) || !json_object_is_type(value, type))
		die("plan", key);
	return value;
}

/* flushctl prints physical addresses as "0x..." strings (JSON numbers cannot hold every 64-bit value). */
static uint64_t address(struct json_object *obj, const char *key)
{
	const char *text = json_object_get_string(member(obj, key, json_type_string));
	char *end;

	errno = 0;
	uint64_t value = strtoull(text, &end, 0);
	if (errno || *end || end == text)
		die("plan: not an address", text);
	return value;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		die("usage", "vmm-flush PLAN.json|-");
	struct json_object *plan = strcmp(argv[1], "-") ? json_object_from_file(argv[1])
						       : json_object_from_fd(STDIN_FILENO);
	if (!plan)
		die(argv[1], json_util_get_last_err());

	const char *method = json_object_get_string(member(plan, "method", json_type_string));
	if (strcmp(method, "passthrough")) {
		/* deep_flush, fsync or none: the VMM traps the guest's hint writes instead. */
		printf("method %s: %s\n", method,
		       json_object_get_string(member(plan, "reason", json_type_string)));
		return 1;
	}

	/* Each DIMM's first hint: nvdimm_flush() writes one hint per DIMM (this one, for brevity). */
	struct json_object *dimms = member(plan, "dimms", json_type_array);
	size_t ndimms = json_object_array_length(dimms);
	uint64_t first[MAX_DIMMS];
	if (ndimms == 0 || ndimms > MAX_DIMMS)
		die("plan", "dimms: none, or too many");
	for (size_t i = 0; i < ndimms; i++) {
		struct json_object *hints = member(json_object_array_get_idx(dimms, i), "flush_hints", json_type_array);
		if (json_object_array_length(hints) == 0)
			die("plan", "a passthrough DIMM without flush hints");
		const char *text = json_object_get_string(json_object_array_get_idx(hints, 0));
		first[i] = strtoull(text ? text : "", NULL, 0);
	}

	/* Map every range: /dev/mem with O_SYNC gives an uncached mapping, as the kernel's ioremap. */
	struct json_object *ranges = member(plan, "ranges", json_type_array);
	volatile uint64_t *targets[MAX_DIMMS];
	uint64_t written[MAX_DIMMS];
	size_t ntargets = 0;
	for (size_t r = 0; r < json_object_array_length(ranges); r++) {
		struct json_object *range = json_object_array_get_idx(ranges, r);
		const char *path = json_object_get_string(member(range, "path", json_type_string));
		uint64_t offset = address(range, "offset");
		size_t length = (size_t)json_object_get_int64(member(range, "length", json_type_int));

		int fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
		if (fd < 0)
			die(path, strerror(errno));
		char *page = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
		if (page == MAP_FAILED)
			die("mmap /dev/mem (is the host booted with iomem=relaxed?)", strerror(errno));
		close(fd); /* the mapping stays valid */

		/* Pick, in this page, the first hint of each DIMM, once per distinct address. */
		struct json_object *hints = member(range, "hints", json_type_array);
		for (size_t h = 0; h < json_object_array_length(hints); h++) {
			/* The offset within the page is a small integer. */
			int64_t in_page_value = json_object_get_int64(
				member(json_object_array_get_idx(hints, h), "offset", json_type_int));
			if (in_page_value < 0 || (uint64_t)in_page_value >= length)
				die("plan", "a hint offset outside its range");
			uint64_t in_page = (uint64_t)in_page_value;
			uint64_t physical = offset + in_page;
			int is_first = 0, seen = 0;
			for (size_t d = 0; d < ndimms; d++)
				is_first |= first[d] == physical;
			for (size_t t = 0; t < ntargets; t++)
				seen |= written[t] == physical;
			if (!is_first || seen)
				continue;
			if (in_page + 8 > length || in_page % 8)
				die("plan", "a hint outside its range or not 8-byte aligned");
			targets[ntargets] = (volatile uint64_t *)(page + in_page);
			written[ntargets++] = physical;
		}
	}

	/* Every DIMM must be covered, or the flush would silently skip one. */
	for (size_t d = 0; d < ndimms; d++) {
		int found = 0;
		for (size_t t = 0; t < ntargets; t++)
			found |= written[t] == first[d];
		if (!found)
			die("plan", "a DIMM's first flush hint lies in no range");
	}

	/* nvdimm_flush(): wmb(); writeq(1, hint) for each DIMM; wmb(). x86-64's wmb() is sfence. */
	__asm__ __volatile__("sfence" ::: "memory");
	for (size_t t = 0; t < ntargets; t++)
		*targets[t] = 1;
	__asm__ __volatile__("sfence" ::: "memory");

	for (size_t t = 0; t < ntargets; t++)
		printf("wrote 1 to 0x%llx\n", (unsigned long long)written[t]);
	json_object_put(plan);
	return 0;
}
