/*
 * cuda_array.c - CUDA arrays (1D/2D/3D, layered, cube maps) and mipmapped
 * arrays.
 *
 * Arrays hold texture data in a layout the simulator does not model (no API
 * in scope reads them), so they have no host backing; what matters is their
 * cost on the device. An array of W x H x D elements of E bytes (format size
 * x channels) is charged with rows padded to VXPU_SIM_ALLOC_ALIGN bytes:
 *     round_up(W*E, 512) * max(H,1) * max(D,1)
 * (D counts layers, and for cube maps the 6 faces of each layer) and the
 * total rounded up to 64 KiB, the order of the real driver's
 * tiling waste for small arrays. A mipmapped array is charged the sum of its
 * levels (each dimension halved per level, at least 1) at creation; its
 * level arrays belong to it and are not charged again.
 */
#include "sim/cuda_internal.h"

#include <stdlib.h>
#include <string.h>

#define ARRAY_MAGIC 0x59415241u  /* "ARAY" */
#define MIPMAP_MAGIC 0x50494d4du /* "MMIP" */
#define ARRAY_ROUND ((uint64_t)64 * 1024)

struct sim_mipmap;

struct sim_array {
	uint32_t magic;
	int dev;
	uint64_t charged; /* 0 for the levels of a mipmapped array */
	CUDA_ARRAY3D_DESCRIPTOR desc;
	struct sim_mipmap *owner;
	struct sim_array *next;
};

struct sim_mipmap {
	uint32_t magic;
	int dev;
	uint64_t charged;
	unsigned int levels;
	struct sim_array **level;
	struct sim_mipmap *next;
};

static struct sim_array *arrays;
static struct sim_mipmap *mipmaps;

void sim_arrays_reset(void)
{
	while (arrays) {
		struct sim_array *a = arrays;
		arrays = a->next;
		free(a);
	}
	while (mipmaps) {
		struct sim_mipmap *m = mipmaps;
		mipmaps = m->next;
		free(m->level); /* the level arrays were on the arrays list */
		free(m);
	}
}

/* Bytes charged for one array level; 0 when the descriptor is invalid. */
static uint64_t array_bytes(const CUDA_ARRAY3D_DESCRIPTOR *d)
{
	unsigned int fb = vxpu_cuda_format_bytes(d->Format);
	if (fb == 0 || (d->NumChannels != 1 && d->NumChannels != 2 && d->NumChannels != 4) ||
	    d->Width == 0 || d->Width > (1u << 20) || d->Height > (1u << 20) ||
	    d->Depth > (1u << 16))
		return 0;
	uint64_t row = sim_round_up((uint64_t)d->Width * fb * d->NumChannels, VXPU_SIM_ALLOC_ALIGN);
	if ((d->Flags & CUDA_ARRAY3D_CUBEMAP) &&
	    (d->Width != d->Height || d->Depth == 0 || d->Depth % 6 != 0 ||
	     (!(d->Flags & CUDA_ARRAY3D_LAYERED) && d->Depth != 6)))
		return 0; /* a cube map has square faces, 6 per layer */
	uint64_t bytes = row * (d->Height ? d->Height : 1) * (d->Depth ? d->Depth : 1);
	return sim_round_up(bytes, ARRAY_ROUND);
}

static bool flags_ok(unsigned int flags)
{
	return (flags & ~(unsigned int)(CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_SURFACE_LDST |
	                                CUDA_ARRAY3D_CUBEMAP | CUDA_ARRAY3D_TEXTURE_GATHER)) == 0;
}

static CUresult array_create(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *desc)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!pHandle || !desc || !flags_ok(desc->Flags))
		return CUDA_ERROR_INVALID_VALUE;
	uint64_t bytes = array_bytes(desc);
	if (bytes == 0)
		return CUDA_ERROR_INVALID_VALUE;
	struct sim_array *a = calloc(1, sizeof(*a));
	if (!a)
		return CUDA_ERROR_OUT_OF_MEMORY;
	sim_lock();
	rc = sim_ctx_usable(ctx);
	if (rc == CUDA_SUCCESS && vxpu_sim_mem_charge(&sim.st, ctx->dev, bytes) != 0)
		rc = CUDA_ERROR_OUT_OF_MEMORY;
	if (rc != CUDA_SUCCESS) {
		sim_unlock();
		free(a);
		return rc;
	}
	a->magic = ARRAY_MAGIC;
	a->dev = ctx->dev;
	a->charged = bytes;
	a->desc = *desc;
	a->next = arrays;
	arrays = a;
	sim_unlock();
	*pHandle = (CUarray)a;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuArrayCreate_v2(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *pAllocateArray)
{
	if (!pAllocateArray)
		return CUDA_ERROR_INVALID_VALUE;
	CUDA_ARRAY3D_DESCRIPTOR d = {.Width = pAllocateArray->Width,
	                             .Height = pAllocateArray->Height,
	                             .Depth = 0,
	                             .Format = pAllocateArray->Format,
	                             .NumChannels = pAllocateArray->NumChannels,
	                             .Flags = 0};
	return array_create(pHandle, &d);
}

SIM_API CUresult cuArray3DCreate_v2(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pAllocateArray)
{
	return array_create(pHandle, pAllocateArray);
}

static void array_unlink(struct sim_array *a)
{
	struct sim_array **pp = &arrays;
	while (*pp && *pp != a)
		pp = &(*pp)->next;
	if (*pp)
		*pp = a->next;
}

SIM_API CUresult cuArrayDestroy(CUarray hArray)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_array *a = arrays;
	while (a && a != (struct sim_array *)hArray)
		a = a->next;
	if (!a || a->magic != ARRAY_MAGIC || a->owner) {
		sim_unlock();
		return CUDA_ERROR_INVALID_HANDLE; /* unknown, or a level of a mipmapped array */
	}
	array_unlink(a);
	vxpu_sim_mem_uncharge(&sim.st, a->dev, a->charged);
	sim_unlock();
	free(a);
	return CUDA_SUCCESS;
}

SIM_API CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle,
                                        const CUDA_ARRAY3D_DESCRIPTOR *pMipmappedArrayDesc,
                                        unsigned int numMipmapLevels)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	const CUDA_ARRAY3D_DESCRIPTOR *d = pMipmappedArrayDesc;
	if (!pHandle || !d || numMipmapLevels == 0 || numMipmapLevels > 32 || !flags_ok(d->Flags))
		return CUDA_ERROR_INVALID_VALUE;
	struct sim_mipmap *mm = calloc(1, sizeof(*mm));
	struct sim_array **level = calloc(numMipmapLevels, sizeof(struct sim_array *));
	bool ok = mm && level;
	uint64_t total = 0;
	CUDA_ARRAY3D_DESCRIPTOR ld = *d;
	for (unsigned int i = 0; ok && i < numMipmapLevels; i++) {
		uint64_t b = array_bytes(&ld);
		level[i] = calloc(1, sizeof(struct sim_array));
		if (b == 0 || !level[i])
			ok = false;
		else {
			level[i]->magic = ARRAY_MAGIC;
			level[i]->desc = ld;
			level[i]->owner = mm;
			total += b;
		}
		ld.Width = ld.Width > 1 ? ld.Width / 2 : 1;
		ld.Height = ld.Height > 1 ? ld.Height / 2 : ld.Height;
		if (!(d->Flags & CUDA_ARRAY3D_LAYERED))
			ld.Depth = ld.Depth > 1 ? ld.Depth / 2 : ld.Depth;
	}
	sim_lock();
	if (ok)
		rc = sim_ctx_usable(ctx);
	if (ok && rc == CUDA_SUCCESS && vxpu_sim_mem_charge(&sim.st, ctx->dev, total) != 0)
		rc = CUDA_ERROR_OUT_OF_MEMORY;
	if (!ok || rc != CUDA_SUCCESS) {
		sim_unlock();
		for (unsigned int i = 0; level && i < numMipmapLevels; i++)
			free(level[i]);
		free(level);
		free(mm);
		return ok ? rc : CUDA_ERROR_INVALID_VALUE;
	}
	mm->magic = MIPMAP_MAGIC;
	mm->dev = ctx->dev;
	mm->charged = total;
	mm->levels = numMipmapLevels;
	mm->level = level;
	for (unsigned int i = 0; i < numMipmapLevels; i++) {
		level[i]->dev = ctx->dev;
		level[i]->next = arrays;
		arrays = level[i];
	}
	mm->next = mipmaps;
	mipmaps = mm;
	sim_unlock();
	*pHandle = (CUmipmappedArray)mm;
	return CUDA_SUCCESS;
}

static struct sim_mipmap *mipmap_find(CUmipmappedArray h)
{
	for (struct sim_mipmap *m = mipmaps; m; m = m->next)
		if (m == (struct sim_mipmap *)h && m->magic == MIPMAP_MAGIC)
			return m;
	return NULL;
}

SIM_API CUresult cuMipmappedArrayGetLevel(CUarray *pLevelArray, CUmipmappedArray hMipmappedArray,
                                          unsigned int level)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!pLevelArray)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_mipmap *m = mipmap_find(hMipmappedArray);
	if (!m)
		rc = CUDA_ERROR_INVALID_HANDLE;
	else if (level >= m->levels)
		rc = CUDA_ERROR_INVALID_VALUE;
	else
		*pLevelArray = (CUarray)m->level[level];
	sim_unlock();
	return rc;
}

SIM_API CUresult cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_mipmap *m = mipmap_find(hMipmappedArray);
	if (!m) {
		sim_unlock();
		return CUDA_ERROR_INVALID_HANDLE;
	}
	struct sim_mipmap **pp = &mipmaps;
	while (*pp != m)
		pp = &(*pp)->next;
	*pp = m->next;
	for (unsigned int i = 0; i < m->levels; i++) {
		array_unlink(m->level[i]);
		free(m->level[i]);
	}
	vxpu_sim_mem_uncharge(&sim.st, m->dev, m->charged);
	sim_unlock();
	free(m->level);
	free(m);
	return CUDA_SUCCESS;
}
