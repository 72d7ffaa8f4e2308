// SPDX-License-Identifier: GPL-2.0
/*
 * flushhint: the flush-hint pages of NVDIMM regions, by mmap and nothing else.
 *
 * /dev/flushhint/regionN maps host physical pages (file offset = physical
 * address) that hold a flush hint of one of regionN's DIMMs, that the nd bus
 * holds right now, and that are not System RAM. A VMM can hand such a page to
 * its guest without /dev/mem, iomem=relaxed or lifting kernel lockdown.
 *
 * Rules (docs/flushhint.md says why each is enough, and what is racy):
 *  - mmap: MAP_SHARED only, every page checked before the VMA is set up;
 *    refusals are EINVAL (arguments) or EPERM (a page), logged rate-limited.
 *  - pages are inserted by the fault handler, which checks the page again, so
 *    a region that loses its hint pages (driver unbound, device deleted) gets
 *    its mappings zapped and later accesses get SIGBUS.
 *  - each mapping holds an uncached (UC-) ioremap of its range for its whole
 *    life: the memory-type reservation no WB mapping can conflict with.
 *
 * Copyright the flushctl authors.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/acpi.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/kref.h>
#include <linux/libnvdimm.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/mutex.h>
#include <linux/pseudo_fs.h>
#include <linux/ratelimit.h>
#include <linux/slab.h>
#include <linux/version.h>

/* A mapping of more pages than this is refused: a region has a few hint pages. */
#define FH_MAX_PAGES 64
#define FH_MAX_NODES 64
/* An SPA range structure before ACPI 6.4 added its location cookie. */
#define FH_SPA_MIN offsetof(struct acpi_nfit_system_address, location_cookie)

static bool allow_shared_pages = true;
module_param(allow_shared_pages, bool, 0644);
MODULE_PARM_DESC(allow_shared_pages,
		 "map pages that also hold flush hints of DIMMs outside the region (default: yes)");

/* One hint page of a region, as the NFIT lists it. */
struct fh_page {
	phys_addr_t addr;
	bool shared;		/* also holds hints of DIMMs that are not the region's */
};

/* One /dev/flushhint/regionN. */
struct fh_node {
	struct miscdevice misc;
	char name[32];			/* "flushhint-regionN" (class device name) */
	char nodename[32];		/* "flushhint/regionN" (/dev path) */
	struct device *region;		/* referenced; compared in the bus notifier */
	unsigned int range_index;	/* the region's NFIT SPA range index */
	struct fh_page *pages;
	unsigned int nr_pages;
	struct inode *inode;		/* its i_mapping holds every mapping of the node */
	struct mutex lock;		/* bound, gone; held across fault-time checks and inserts */
	bool bound;			/* the nd_region driver is bound: its hint pages are claimed */
	bool gone;			/* the region device was deleted */
	bool registered;		/* misc_register succeeded */
	struct list_head list;
};

/* What one VMA (and the VMAs split or copied from it) holds. */
struct fh_vma {
	struct kref kref;
	void __iomem *reservation;	/* UC- ioremap of the range: the memory-type reservation */
};

static LIST_HEAD(fh_nodes);
static struct vfsmount *fh_mnt;
/* The nd bus type (struct bus_type *, const since 6.4), from a region device: libnvdimm exports none. */
static typeof(((struct device *)NULL)->bus) fh_bus;
/* fh_nodes: added to at load, read by the notifier. */
static DEFINE_MUTEX(fh_nodes_lock);
static DEFINE_RATELIMIT_STATE(fh_ratelimit, 5 * HZ, 20);

#define fh_refuse(node, fmt, ...)						\
	do {									\
		if (__ratelimit(&fh_ratelimit))					\
			pr_notice("%s: pid %d (%s): " fmt "\n",			\
				  dev_name((node)->region), task_pid_nr(current),	\
				  current->comm, ##__VA_ARGS__);			\
	} while (0)

/* ------------------------------------------------------------ page checks */

struct fh_busy {
	phys_addr_t page;
	unsigned int exact;	/* busy resources that are exactly the page */
	unsigned int other;	/* busy resources overlapping it otherwise */
};

static int fh_busy_one(struct resource *res, void *arg)
{
	struct fh_busy *busy = arg;
	phys_addr_t last = busy->page + PAGE_SIZE - 1;

	/* The walk covers one byte either side; a neighbour ending or starting there is not ours. */
	if (res->end < busy->page || res->start > last)
		return 0;
	if (res->start == busy->page && res->end == last)
		busy->exact++;
	else
		busy->other++;
	return 0;
}

/*
 * 0 when @addr is a page this node may map now, else -EPERM with the reason
 * logged. Called with node->lock held.
 */
static int fh_check_page(struct fh_node *node, phys_addr_t addr)
{
	struct fh_busy busy = { .page = addr };
	struct fh_page *page = NULL;
	unsigned int i;

	if (node->gone || !node->bound) {
		fh_refuse(node, "page %pa: the region is disabled (its hint pages are not claimed)", &addr);
		return -EPERM;
	}
	if (page_is_ram(PHYS_PFN(addr)) ||
	    region_intersects(addr, PAGE_SIZE, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) != REGION_DISJOINT) {
		fh_refuse(node, "page %pa: System RAM", &addr);
		return -EPERM;
	}
	for (i = 0; i < node->nr_pages; i++)
		if (node->pages[i].addr == addr)
			page = &node->pages[i];
	if (!page) {
		fh_refuse(node, "page %pa: no flush hint of the region's DIMMs in the NFIT", &addr);
		return -EPERM;
	}
	if (page->shared && !READ_ONCE(allow_shared_pages)) {
		fh_refuse(node, "page %pa: also holds hints of other regions' DIMMs (allow_shared_pages=0)", &addr);
		return -EPERM;
	}
	walk_iomem_res_desc(IORES_DESC_NONE, IORESOURCE_MEM | IORESOURCE_BUSY,
			    addr - 1, addr + PAGE_SIZE, &busy, fh_busy_one);
	if (busy.exact != 1 || busy.other != 0) {
		fh_refuse(node, "page %pa: not claimed as exactly this page by the nd bus (%u exact, %u other busy resources)",
			  &addr, busy.exact, busy.other);
		return -EPERM;
	}
	return 0;
}

/* ------------------------------------------------------------ mappings */

static void fh_vma_release(struct kref *kref)
{
	struct fh_vma *fv = container_of(kref, struct fh_vma, kref);

	iounmap(fv->reservation);
	kfree(fv);
}

static void fh_vm_open(struct vm_area_struct *vma)
{
	struct fh_vma *fv = vma->vm_private_data;

	kref_get(&fv->kref);
}

static void fh_vm_close(struct vm_area_struct *vma)
{
	struct fh_vma *fv = vma->vm_private_data;

	kref_put(&fv->kref, fh_vma_release);
}

static vm_fault_t fh_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct fh_node *node = vma->vm_file->private_data;
	phys_addr_t addr = (phys_addr_t)vmf->pgoff << PAGE_SHIFT;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	/* Checked and inserted under the lock the notifier takes before it zaps. */
	mutex_lock(&node->lock);
	if (fh_check_page(node, addr) == 0)
		ret = vmf_insert_pfn_prot(vma, vmf->address, PHYS_PFN(addr), vma->vm_page_prot);
	mutex_unlock(&node->lock);
	return ret;
}

static const struct vm_operations_struct fh_vm_ops = {
	.open = fh_vm_open,
	.close = fh_vm_close,
	.fault = fh_vm_fault,
};

static int fh_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct fh_node *node = file->private_data;
	unsigned long size = vma->vm_end - vma->vm_start;
	unsigned long pages = size >> PAGE_SHIFT;
	phys_addr_t start = (phys_addr_t)vma->vm_pgoff << PAGE_SHIFT;
	struct fh_vma *fv;
	unsigned long i;
	int rc = 0;

	if (!(vma->vm_flags & VM_MAYSHARE)) {
		fh_refuse(node, "mmap at %pa: MAP_PRIVATE (only MAP_SHARED)", &start);
		return -EINVAL;
	}
	if (pages == 0 || pages > FH_MAX_PAGES ||
	    (start >> PAGE_SHIFT) != vma->vm_pgoff || start + size - 1 < start) {
		fh_refuse(node, "mmap at %pa: %lu pages (1 to %d, no overflow)", &start, pages, FH_MAX_PAGES);
		return -EINVAL;
	}
	mutex_lock(&node->lock);
	for (i = 0; i < pages && rc == 0; i++)
		rc = fh_check_page(node, start + i * PAGE_SIZE);
	mutex_unlock(&node->lock);
	if (rc)
		return rc;

	fv = kzalloc(sizeof(*fv), GFP_KERNEL);
	if (!fv)
		return -ENOMEM;
	kref_init(&fv->kref);
	/* ioremap is UC- on x86 and reserves that type for the range until iounmap. */
	fv->reservation = ioremap(start, size);
	if (!fv->reservation) {
		kfree(fv);
		fh_refuse(node, "mmap at %pa: no uncached memory-type reservation for %lu pages", &start, pages);
		return -EAGAIN;
	}
	vma->vm_private_data = fv;
	vma->vm_ops = &fh_vm_ops;
	vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
#endif
	return 0;
}

/* ------------------------------------------------------------ file */

static int fh_open(struct inode *inode, struct file *file)
{
	/* misc_open left the miscdevice in private_data. */
	struct fh_node *node = container_of(file->private_data, struct fh_node, misc);

	file->private_data = node;
	/* Every mapping of the node in one address_space, whatever inode it was opened through. */
	file->f_mapping = node->inode->i_mapping;
	return 0;
}

/* Like /dev/mem: a position can be set, but there is no end, so QEMU neither sizes nor truncates. */
static loff_t fh_llseek(struct file *file, loff_t offset, int whence)
{
	loff_t ret;

	inode_lock(file_inode(file));
	switch (whence) {
	case SEEK_CUR:
		offset += file->f_pos;
		fallthrough;
	case SEEK_SET:
		if (offset < 0) {
			ret = -EINVAL;
			break;
		}
		file->f_pos = offset;
		ret = offset;
		break;
	default:
		ret = -EINVAL;
	}
	inode_unlock(file_inode(file));
	return ret;
}

static const struct file_operations fh_fops = {
	.owner = THIS_MODULE,
	.open = fh_open,
	.mmap = fh_mmap,
	.llseek = fh_llseek,
};

/* ------------------------------------------------------------ revocation */

static void fh_set_bound(struct fh_node *node, bool bound, bool gone)
{
	mutex_lock(&node->lock);
	node->bound = bound && !node->gone && !gone;
	node->gone |= gone;
	mutex_unlock(&node->lock);
	/* Faults after the unlock see the new state; what was inserted before goes now. */
	if (!node->bound)
		unmap_mapping_range(node->inode->i_mapping, 0, 0, 1);
}

static int fh_bus_event(struct notifier_block *nb, unsigned long action, void *data)
{
	struct device *dev = data;
	struct fh_node *node;

	mutex_lock(&fh_nodes_lock);
	list_for_each_entry(node, &fh_nodes, list) {
		if (node->region != dev)
			continue;
		switch (action) {
		case BUS_NOTIFY_BOUND_DRIVER:
			fh_set_bound(node, true, false);
			break;
		case BUS_NOTIFY_UNBIND_DRIVER:	/* before the driver releases the hint pages */
		case BUS_NOTIFY_UNBOUND_DRIVER:
			fh_set_bound(node, false, false);
			break;
		case BUS_NOTIFY_DEL_DEVICE:
			fh_set_bound(node, false, true);
			break;
		}
	}
	mutex_unlock(&fh_nodes_lock);
	return NOTIFY_DONE;
}

static struct notifier_block fh_notifier = { .notifier_call = fh_bus_event };

/* ------------------------------------------------------------ discovery */

/*
 * The region's NFIT SPA range index, as /sys/bus/nd/devices/regionN/nfit/range_index
 * shows it: the show method of that attribute, called as sysfs calls it. The
 * caller holds the ACPI0012 device's lock with the nfit driver bound, so the
 * attribute and the data behind it stay.
 */
static int fh_range_index(struct device *region, unsigned int *index)
{
	const struct attribute_group **group;
	struct attribute **attr;
	char *buf;
	int rc = -ENOENT;

	buf = (char *)__get_free_page(GFP_KERNEL);	/* sysfs_emit wants a page */
	if (!buf)
		return -ENOMEM;
	for (group = region->groups; group && *group && rc == -ENOENT; group++) {
		if (!(*group)->name || strcmp((*group)->name, "nfit") != 0)
			continue;
		for (attr = (*group)->attrs; attr && *attr; attr++) {
			struct device_attribute *da = container_of(*attr, struct device_attribute, attr);

			if (strcmp((*attr)->name, "range_index") != 0 || !da->show)
				continue;
			memset(buf, 0, PAGE_SIZE);
			rc = da->show(region, da, buf) > 0 ? kstrtouint(strim(buf), 10, index) : -EIO;
			break;
		}
	}
	free_page((unsigned long)buf);
	return rc;
}

static bool fh_in(const u32 *set, unsigned int n, u32 v)
{
	while (n--)
		if (set[n] == v)
			return true;
	return false;
}

/* The pages holding flush hints of the DIMMs of SPA range @index, from the NFIT. */
static int fh_nfit_pages(struct fh_node *node)
{
	struct acpi_table_header *table;
	struct acpi_nfit_header *sub;
	u32 handles[FH_MAX_NODES];
	unsigned int nr_handles = 0, pass;
	bool spa_found = false;
	u8 *p, *end;
	int rc = 0;

	if (ACPI_FAILURE(acpi_get_table(ACPI_SIG_NFIT, 0, &table)))
		return -ENODEV;
	end = (u8 *)table + table->length;
	/* Pass 0: the SPA range and its DIMMs' handles; pass 1: their hints; pass 2: other DIMMs' hints. */
	for (pass = 0; pass < 3 && rc == 0; pass++) {
		for (p = (u8 *)table + sizeof(struct acpi_table_nfit); rc == 0 && p + sizeof(*sub) <= end;
		     p += sub->length) {
			sub = (struct acpi_nfit_header *)p;
			if (sub->length < sizeof(*sub) || p + sub->length > end) {
				rc = -EINVAL;	/* a malformed table: map nothing */
				break;
			}
			if (pass == 0 && sub->type == ACPI_NFIT_TYPE_SYSTEM_ADDRESS &&
			    sub->length >= FH_SPA_MIN) {
				struct acpi_nfit_system_address *spa = (void *)sub;

				if (spa->range_index == node->range_index)
					spa_found = true;
			} else if (pass == 0 && sub->type == ACPI_NFIT_TYPE_MEMORY_MAP &&
				   sub->length >= sizeof(struct acpi_nfit_memory_map)) {
				struct acpi_nfit_memory_map *memdev = (void *)sub;

				if (memdev->range_index != node->range_index ||
				    fh_in(handles, nr_handles, memdev->device_handle))
					continue;
				if (nr_handles == ARRAY_SIZE(handles)) {
					rc = -E2BIG;
					break;
				}
				handles[nr_handles++] = memdev->device_handle;
			} else if (pass > 0 && sub->type == ACPI_NFIT_TYPE_FLUSH_ADDRESS &&
				   sub->length >= offsetof(struct acpi_nfit_flush_address, hint_address)) {
				struct acpi_nfit_flush_address *flush = (void *)sub;
				size_t first = offsetof(struct acpi_nfit_flush_address, hint_address);
				size_t room = (sub->length - first) / 8;
				bool ours = fh_in(handles, nr_handles, flush->device_handle);
				unsigned int i, j, count = min_t(size_t, flush->hint_count, room);

				if (ours != (pass == 1))
					continue;
				for (i = 0; i < count; i++) {
					__le64 hint;
					phys_addr_t addr;

					/* hint_address[] is declared with one element in older headers */
					memcpy(&hint, p + first + 8 * i, sizeof(hint));
					addr = le64_to_cpu(hint) & PAGE_MASK;

					for (j = 0; j < node->nr_pages && node->pages[j].addr != addr; j++)
						;
					if (pass == 2) {
						if (j < node->nr_pages)
							node->pages[j].shared = true;
						continue;
					}
					if (j < node->nr_pages)
						continue;
					if (node->nr_pages == FH_MAX_PAGES) {
						rc = -E2BIG;
						break;
					}
					node->pages[node->nr_pages].addr = addr;
					node->pages[node->nr_pages].shared = false;
					node->nr_pages++;
				}
			}
		}
		if (pass == 0 && (!spa_found || nr_handles == 0))
			rc = -ENOENT;
	}
	acpi_put_table(table);
	return rc;
}

static ssize_t range_index_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct fh_node *node = container_of(dev_get_drvdata(dev), struct fh_node, misc);

	return sysfs_emit(buf, "%u\n", node->range_index);
}
static DEVICE_ATTR_RO(range_index);

static ssize_t hint_pages_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct fh_node *node = container_of(dev_get_drvdata(dev), struct fh_node, misc);
	unsigned int i;
	int len = 0;

	for (i = 0; i < node->nr_pages; i++)
		len += sysfs_emit_at(buf, len, "%#llx%s\n", (unsigned long long)node->pages[i].addr,
				     node->pages[i].shared ? " shared" : "");
	return len;
}
static DEVICE_ATTR_RO(hint_pages);

static struct attribute *fh_attrs[] = {
	&dev_attr_range_index.attr,
	&dev_attr_hint_pages.attr,
	NULL,
};
ATTRIBUTE_GROUPS(fh);

static void fh_free_node(struct fh_node *node)
{
	if (node->inode)
		iput(node->inode);
	put_device(node->region);
	kfree(node->pages);
	kfree(node);
}

/* A node for @region when it is a region with flush hints in the NFIT. */
static int fh_add_region(struct device *region, void *unused)
{
	struct fh_node *node;
	int rc;

	if (strncmp(dev_name(region), "region", 6) != 0 || !region->type || !region->type->name ||
	    (strcmp(region->type->name, "nd_pmem") != 0 && strcmp(region->type->name, "nd_volatile") != 0))
		return 0;
	if (nvdimm_has_flush(to_nd_region(region)) <= 0)
		return 0;
	node = kzalloc(sizeof(*node), GFP_KERNEL);
	if (!node)
		return -ENOMEM;
	node->region = get_device(region);
	mutex_init(&node->lock);
	node->pages = kcalloc(FH_MAX_PAGES, sizeof(*node->pages), GFP_KERNEL);
	rc = node->pages ? fh_range_index(region, &node->range_index) : -ENOMEM;
	if (rc == 0)
		rc = fh_nfit_pages(node);
	if (rc == 0 && node->nr_pages == 0)
		rc = -ENOENT;
	if (rc) {
		pr_info("%s: no node (%d: no NFIT range index or flush hints for it)\n", dev_name(region), rc);
		fh_free_node(node);
		return rc == -ENOMEM ? rc : 0;
	}
	node->inode = alloc_anon_inode(fh_mnt->mnt_sb);
	if (IS_ERR(node->inode)) {
		rc = PTR_ERR(node->inode);
		node->inode = NULL;
		fh_free_node(node);
		return rc;
	}
	snprintf(node->name, sizeof(node->name), "flushhint-%s", dev_name(region));
	snprintf(node->nodename, sizeof(node->nodename), "flushhint/%s", dev_name(region));
	node->misc.minor = MISC_DYNAMIC_MINOR;
	node->misc.name = node->name;
	node->misc.nodename = node->nodename;
	node->misc.mode = 0600;
	node->misc.fops = &fh_fops;
	node->misc.groups = fh_groups;

	/* The region's driver state, read under its lock: later changes come through the notifier. */
	device_lock(region);
	node->bound = region->driver != NULL;
	mutex_lock(&fh_nodes_lock);
	list_add_tail(&node->list, &fh_nodes);
	mutex_unlock(&fh_nodes_lock);
	device_unlock(region);

	rc = misc_register(&node->misc);
	if (rc) {
		pr_err("%s: misc_register: %d\n", dev_name(region), rc);
		return rc;	/* the node stays on the list; fh_cleanup frees it */
	}
	node->registered = true;	/* misc_register made the miscdevice the class device's drvdata */
	pr_info("%s: /dev/%s, NFIT range index %u, %u hint pages\n", dev_name(region), node->nodename,
		node->range_index, node->nr_pages);
	return 0;
}

static int fh_add_bus(struct device *dev, void *unused)
{
	if (strncmp(dev_name(dev), "ndbus", 5) != 0)
		return 0;
	return device_for_each_child(dev, NULL, fh_add_region);
}

static int fh_match_first_region(struct device *dev, void *unused)
{
	return strncmp(dev_name(dev), "region", 6) == 0 && dev->bus;
}

static int fh_find_bus_type(struct device *ndbus, void *unused)
{
	struct device *region;

	if (fh_bus || strncmp(dev_name(ndbus), "ndbus", 5) != 0)
		return 0;
	region = device_find_child(ndbus, NULL, fh_match_first_region);
	if (region) {
		fh_bus = region->bus;
		put_device(region);
	}
	return 0;
}

static int fh_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, 0x666c6873) ? 0 : -ENOMEM;	/* "flhs" */
}

/* No owner: the mount lives exactly as long as the module. */
static struct file_system_type fh_fs_type = {
	.name = "flushhint",
	.init_fs_context = fh_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

static void fh_cleanup(void)
{
	struct fh_node *node, *next;

	if (fh_bus)
		bus_unregister_notifier(fh_bus, &fh_notifier);
	list_for_each_entry_safe(node, next, &fh_nodes, list) {
		if (node->registered)
			misc_deregister(&node->misc);
		list_del(&node->list);
		fh_free_node(node);
	}
	if (fh_mnt)
		kern_unmount(fh_mnt);
}

static int __init fh_init(void)
{
	struct acpi_device *adev;
	int rc;

	adev = acpi_dev_get_first_match_dev("ACPI0012", NULL, -1);
	if (!adev) {
		pr_info("no NVDIMM root device (ACPI0012)\n");
		return -ENODEV;
	}
	fh_mnt = kern_mount(&fh_fs_type);
	if (IS_ERR(fh_mnt)) {
		rc = PTR_ERR(fh_mnt);
		fh_mnt = NULL;
		acpi_dev_put(adev);
		return rc;
	}
	/* With the nfit driver held bound, its regions and their attributes stay while we look. */
	device_lock(&adev->dev);
	if (!adev->dev.driver) {
		pr_info("the nfit driver is not bound to %s\n", dev_name(&adev->dev));
		rc = -ENODEV;
		goto out;
	}
	device_for_each_child(&adev->dev, NULL, fh_find_bus_type);
	if (!fh_bus) {
		pr_info("no NVDIMM region under %s\n", dev_name(&adev->dev));
		rc = -ENODEV;
		goto out;
	}
	rc = bus_register_notifier(fh_bus, &fh_notifier);
	if (rc) {
		fh_bus = NULL;
		goto out;
	}
	rc = device_for_each_child(&adev->dev, NULL, fh_add_bus);
	if (rc == 0 && list_empty(&fh_nodes)) {
		pr_info("no NVDIMM region with flush hints\n");
		rc = -ENODEV;
	}
out:
	device_unlock(&adev->dev);
	acpi_dev_put(adev);
	if (rc)
		fh_cleanup();
	return rc;
}

static void __exit fh_exit(void)
{
	fh_cleanup();
}

module_init(fh_init);
module_exit(fh_exit);
MODULE_DESCRIPTION("Flush-hint pages of NVDIMM regions, by mmap");
MODULE_AUTHOR("the flushctl authors");
MODULE_LICENSE("GPL");
