from .tubes import Tubes, pairwise_frame_iou, pairwise_tube_iou

__all__ = ["Tubes", "pairwise_frame_iou", "pairwise_tube_iou"]
