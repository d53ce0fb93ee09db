/*
 * sched_resources - prints every Kubernetes resource name of the built-in
 * vendor profiles, one a line, in table order without repeats. The deploy
 * test compares it with the managedResources of the KubeSchedulerConfiguration
 * in deploy/kubernetes, so a new profile cannot be forgotten there.
 */
#include "core/vendor.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
	static struct vxpu_vendor_table t;
	vxpu_vendor_table_builtin(&t);
	for (uint32_t i = 0; i < t.count; i++)
		for (int k = 0; k < VXPU_RESOURCE_KINDS; k++) {
			const char *name = t.profiles[i].resources[k];
			bool seen = !name[0];
			for (uint32_t j = 0; j <= i && !seen; j++)
				for (int q = 0; q < VXPU_RESOURCE_KINDS && !seen; q++)
					seen = (j < i || q < k) &&
					       strcmp(t.profiles[j].resources[q], name) == 0;
			if (!seen)
				printf("%s\n", name);
		}
	return 0;
}
