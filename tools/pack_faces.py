"""Pack every face of the dataset, as the pixels inside its box, into one compressed file for a machine without the dataset.

The receiving machine rebuilds chapter 7's 256-pixel crops exactly (`crop_face` is a Pillow resize of these pixels).
Usage: python tools/pack_faces.py OUT.npz
"""
import sys
import numpy as np
from mask_detection.data import find_data, load_photo
from mask_detection.annotations import read_annotations
from mask_detection.crops import clamp_box
from mask_detection.pipeline import crop_table, split_faces

data = find_data()
faces, _ = read_annotations(data)
table = split_faces(crop_table(faces))
face_no = table.file.str.split('.').str[0].astype(int).to_numpy()
boxes = {}
for file, group in faces.groupby('file', sort=False):
    img = load_photo(data.images/file)
    for i, f in group.iterrows():
        x0, y0, x1, y1 = clamp_box((f.xmin, f.ymin, f.xmax, f.ymax), img.shape[1], img.shape[0])
        boxes[i] = img[y0:y1, x0:x1]
pix, shapes = [boxes[i].ravel() for i in face_no], [boxes[i].shape for i in face_no]
np.savez_compressed(sys.argv[1], pixels=np.concatenate(pix), shapes=np.array(shapes), label=table.label_id.to_numpy(),
                    split=table.split.to_numpy().astype('U8'), order=table.order.to_numpy(), image_path=table.file.to_numpy().astype('U20'))
print(len(table), 'faces', dict(table.split.value_counts()))
